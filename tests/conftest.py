"""Shared fixtures: tiny SegNeXt configs so model tests stay fast on 2 CPU cores."""
import copy
import os
import socket

import pytest
import torch

# No test touches the network. Downloads by URL (checkpoints, the shipped configs' pretrained weights, the model
# zoo) go to a closed local port unless a test points SEGNEXT_DOWNLOAD_MIRROR at its own local server; this also
# holds in the tool subprocesses, which inherit the environment.
os.environ['SEGNEXT_DOWNLOAD_MIRROR'] = 'https://=http://127.0.0.1:9/no-network-in-tests/'
_connect = socket.socket.connect


def _loopback_only(self, address):
    host = address[0] if isinstance(address, tuple) else None
    if host is not None and host not in ('127.0.0.1', '::1', 'localhost'):
        raise OSError(f'tests must not touch the network (connect to {address})')
    return _connect(self, address)


socket.socket.connect = _loopback_only


def _share_cores_between_workers() -> None:
    """Under ``pytest -n N``, each worker (and the tool subprocesses it starts, through the environment) gets its
    share of the cores: N workers at the default of one thread per core oversubscribe the machine, and OpenMP
    threads that wait for a busy core spin."""
    workers = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
    if workers > 1 and 'OMP_NUM_THREADS' not in os.environ:
        from mmseg.utils.threads import available_cores
        threads = max(1, available_cores() // workers)
        os.environ['OMP_NUM_THREADS'] = str(threads)
        torch.set_num_threads(threads)


_share_cores_between_workers()

# Scheduled first (pytest-xdist hands out tests in collection order, round-robin): these took 45-375 s each in a
# full -n 2 run on 2 cores (2026-12-03); collected near the end, one of them alone kept a worker busy for minutes
# after the other had finished.
LONGEST_FIRST = (
    'tests/test_readme_custom_dataset.py::test_readme_schedule_learns_generated_data_quietly_and_its_dump_trains',
    'tests/deploy/test_quantize.py::test_openvino_accuracy_control_restores_float_ops',
    'tests/test_readme_commands.py::test_demo_and_deploy_commands_as_written',
    'tests/test_readme_commands.py::test_paper_config_commands_as_written',
    'tests/tools/test_quiet_runs.py::test_demo_train_and_test_print_no_warning',
    'tests/tools/test_train_test_tools.py::test_dist_train_resume_equals_uninterrupted_and_dist_test',
)


def pytest_collection_modifyitems(items):
    rank = {nodeid: i for i, nodeid in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid, len(rank)))  # stable: the rest keep their order


VARIANTS = {
    # name: (embed_dims, depths, head channels, MD_R, drop_path_rate)
    't': ([32, 64, 160, 256], [3, 3, 5, 2], 256, 16, 0.1),
    's': ([64, 128, 320, 512], [2, 2, 4, 2], 256, 16, 0.1),
    'b': ([64, 128, 320, 512], [3, 3, 12, 3], 512, 64, 0.1),
    'l': ([64, 128, 320, 512], [3, 5, 27, 3], 1024, 64, 0.3),
}


def segnext_cfg(variant: str = 't', num_classes: int = 150, depths=None, **head_kwargs) -> dict:
    dims, var_depths, ch, r, dpr = VARIANTS[variant]
    head = dict(type='LightHamHead', in_channels=dims[1:], in_index=[1, 2, 3], channels=ch, ham_channels=ch,
                dropout_ratio=0.1, num_classes=num_classes, align_corners=False,
                norm_cfg=dict(type='GN', num_groups=32, requires_grad=True), ham_kwargs=dict(MD_R=r),
                loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0))
    head.update(head_kwargs)
    return dict(type='EncoderDecoder',
                backbone=dict(type='MSCAN', embed_dims=dims, depths=depths or var_depths, mlp_ratios=[8, 8, 4, 4],
                              drop_rate=0.0, drop_path_rate=dpr, norm_cfg=dict(type='BN', requires_grad=True)),
                decode_head=head, train_cfg=dict(), test_cfg=dict(mode='whole'))


def randomize_(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every parameter and BN statistic non-trivial random values (so no branch is a no-op)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.dtype.is_floating_point:
                if name.endswith('running_var'):
                    t.copy_(torch.rand(t.shape, generator=g) + 0.5)
                elif 'layer_scale' in name:
                    t.copy_(torch.rand(t.shape, generator=g) * 0.5 + 0.1)
                else:
                    t.copy_(torch.randn(t.shape, generator=g) * 0.1)
    return model


@pytest.fixture
def tiny_cfg():
    return copy.deepcopy(segnext_cfg('t', num_classes=5, depths=[1, 1, 1, 1]))


def load_script(rel_path: str):
    """Import a script such as ``tools/get_flops.py`` by path (cached in ``sys.modules`` so that worker pools can
    pickle its functions)."""
    import importlib.util
    import os.path as osp
    import sys
    name = '_script_' + rel_path.replace('/', '_').replace('.py', '')
    if name not in sys.modules:
        root = osp.dirname(osp.dirname(osp.abspath(__file__)))
        spec = importlib.util.spec_from_file_location(name, osp.join(root, rel_path))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
