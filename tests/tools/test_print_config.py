import pytest

from mmseg.utils import Config
from tests.conftest import load_script
from tests.tools.demo_data import DEMO_CONFIG


def test_prints_resolved_config_with_options(capsys, tmp_path):
    tool = load_script('tools/print_config.py')
    out = tmp_path / 'resolved.py'
    assert tool.main([DEMO_CONFIG, '--cfg-options', 'model.decode_head.num_classes=7', 'data.samples_per_gpu=3',
                      '--out', str(out)]) == 0
    text = capsys.readouterr().out
    assert text.startswith('Config:\n')
    printed = tmp_path / 'printed.py'
    printed.write_text(text[len('Config:\n'):])
    for path in (printed, out):  # what is printed (and written) reads back as the resolved config
        cfg = Config.fromfile(str(path))
        assert cfg.model.decode_head.num_classes == 7 and cfg.data.samples_per_gpu == 3
        assert cfg.model.backbone.type == 'MSCAN'  # from the _base_ model file
        assert cfg.data.train.type == 'DemoDataset'


def test_missing_config_is_an_argument_error(tmp_path):
    tool = load_script('tools/print_config.py')
    with pytest.raises(SystemExit):
        tool.main([str(tmp_path / 'nope.py')])
