"""A tiny demo dataset and demo-config options shared by the tool tests (print_config, browse_dataset,
confusion_matrix)."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEMO_CONFIG = str(ROOT / 'local_configs' / 'segnext' / 'tiny' / 'segnext.tiny.demo.py')


def make_demo(root: Path, num_train: int = 3, num_val: int = 2) -> str:
    from mmseg.datasets.demo import generate_demo_dataset
    return generate_demo_dataset(str(root), num_train=num_train, num_val=num_val, size=(64, 64))


def demo_options(root: str) -> list:
    """``--cfg-options`` pointing the demo config at ``root`` with a one-block-per-stage model."""
    return ['--cfg-options', f'data.train.data_root={root}', f'data.test.data_root={root}',
            f'data.val.data_root={root}', 'model.backbone.depths=[1,1,1,1]', 'data.workers_per_gpu=0']
