"""A config that passes the strict training check still passes after ``dump`` / ``print_config.py --out``."""
import os.path as osp

import pytest

from mmseg.apis.train_config import check_train_config
from mmseg.utils import Config, ConfigKeyError
from tests.conftest import load_script

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(ROOT, 'local_configs', 'segnext', 'tiny', 'segnext.tiny.demo.py')
USER_CONFIG = f"""_base_ = ['{DEMO}']
classes = ('road', 'car', 'tree')
palette = [[128, 64, 128], [0, 0, 142], [107, 142, 35]]
mine = dict(type='CustomDataset', classes=classes, palette=palette, reduce_zero_label=False)
model = dict(decode_head=dict(num_classes=len(classes)))
data = dict(val=dict(mine, img_dir='v', data_root='d'))
"""


@pytest.fixture
def user_config(tmp_path):
    path = tmp_path / 'mine.py'
    path.write_text(USER_CONFIG)
    return str(path)


def test_dump_keeps_helper_variables_and_reloads_equal(user_config, tmp_path):
    cfg = Config.fromfile(user_config)
    check_train_config(cfg)
    assert {'classes', 'palette', 'mine'} <= set(cfg.helper_keys)
    first, second = tmp_path / 'dump1.py', tmp_path / 'dump2.py'
    cfg.dump(str(first))
    again = Config.fromfile(str(first))
    assert again.to_dict() == cfg.to_dict() and '__helpers__' not in again
    assert again.helper_keys == cfg.helper_keys
    check_train_config(again)  # 'classes' would be "read by nothing" without the dump's helper line
    again.dump(str(second))
    assert second.read_text() == first.read_text()  # a dump of a dump is the same file
    assert Config.fromfile(str(first)).pretty_text == first.read_text()


def test_a_key_read_by_nothing_is_still_refused_after_a_dump(user_config, tmp_path):
    cfg = Config.fromfile(user_config)
    cfg.merge_from_dict({'optimzer': dict(type='SGD', lr=0.1)})
    cfg.dump(str(tmp_path / 'd.py'))
    with pytest.raises(ConfigKeyError, match="'optimzer' is read by nothing"):
        check_train_config(Config.fromfile(str(tmp_path / 'd.py')))


def test_print_config_out_passes_the_training_check(user_config, tmp_path, capsys):
    out = tmp_path / 'resolved.py'
    assert load_script('tools/print_config.py').main([user_config, '--out', str(out)]) == 0
    assert 'Config:' in capsys.readouterr().out
    check_train_config(Config.fromfile(str(out)))
    assert Config.fromfile(str(out)).to_dict() == Config.fromfile(user_config).to_dict()
