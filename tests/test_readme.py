"""The README cannot go stale silently: CI runs exactly its test command, and every command in it is run by a named
test (``README_COMMANDS``); a README command missing from the table, or a table entry naming a test that does not
exist, fails here."""
import ast
import os.path as osp
import re

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
README = osp.join(ROOT, 'README.md')
_CMDS = 'tests/test_readme_commands.py::'
_CUSTOM = 'tests/test_readme_custom_dataset.py::'

# README command (a line of a ```bash block, or the first line of a ```python block) -> the test that runs it
README_COMMANDS = {
    'pip install -e . && bash tools/run_demo.sh':
        _CMDS + 'test_demo_and_deploy_commands_as_written',  # run_demo.sh with 2 iterations; pip: .ci/run
    'pip install -e ".[tests]" && python -m pytest -n 2 -q':
        'tests/test_readme.py::test_ci_runs_exactly_the_readme_test_command',  # .ci/run runs it verbatim
    'pip install torch --index-url https://download.pytorch.org/whl/cpu':
        'tests/test_readme.py::test_cpu_torch_index_is_the_official_one',  # needs the network: checked, not run
    'python tools/zoo.py list': 'tests/tools/test_zoo_tools.py::test_zoo_list_and_download',
    'python tools/train.py local_configs/segnext/tiny/segnext.tiny.512x512.ade.160k.py':
        _CMDS + 'test_paper_config_commands_as_written',
    './tools/dist_train.sh local_configs/segnext/tiny/segnext.tiny.512x512.ade.160k.py 2':
        _CMDS + 'test_paper_config_commands_as_written',
    'python tools/test.py local_configs/segnext/tiny/segnext.tiny.512x512.ade.160k.py '
    'work_dirs/segnext.tiny.512x512.ade.160k/latest.pth --eval mIoU':
        _CMDS + 'test_paper_config_commands_as_written',
    'python tools/get_flops.py local_configs/segnext/tiny/segnext.tiny.512x512.ade.160k.py --shape 512 512':
        _CMDS + 'test_paper_config_commands_as_written',
    "_base_ = ['../_base_/models/segnext_tiny.py', '../_base_/default_runtime.py',":
        _CUSTOM + 'test_readme_schedule_learns_generated_data_quietly_and_its_dump_trains',
    'python tools/check_dataset.py local_configs/mine/segnext.tiny.mine.py':
        _CMDS + 'test_fine_tune_commands_as_written',
    'python tools/train.py local_configs/mine/segnext.tiny.mine.py':
        _CMDS + 'test_fine_tune_commands_as_written',
    'python tools/test.py local_configs/mine/segnext.tiny.mine.py work_dirs/segnext.tiny.mine/latest.pth --eval mIoU '
    '--show-dir work_dirs/segnext.tiny.mine/overlays':
        _CMDS + 'test_fine_tune_commands_as_written',
    'python tools/export_onnx.py local_configs/segnext/tiny/segnext.tiny.demo.py '
    'work_dirs/segnext.tiny.demo/latest.pth --shape 128 128 --dynamic --out demo.onnx':
        _CMDS + 'test_demo_and_deploy_commands_as_written',
    'python tools/test.py local_configs/segnext/tiny/segnext.tiny.demo.py demo.onnx --backend onnxruntime --eval mIoU':
        _CMDS + 'test_demo_and_deploy_commands_as_written',
    'python tools/image_demo.py data/demo/images/validation/demo_00000.jpg '
    'local_configs/segnext/tiny/segnext.tiny.demo.py work_dirs/segnext.tiny.demo/latest.pth --out-file overlay.png':
        _CMDS + 'test_demo_and_deploy_commands_as_written',
    'from mmseg.apis import inference_segmentor, init_segmentor, show_result':
        _CMDS + 'test_demo_and_deploy_commands_as_written',
}


def readme_blocks(text: str):
    """(language, body) of every fenced block."""
    return re.findall(r'```(\w*)\n(.*?)```', text, flags=re.S)


def readme_commands(text: str):
    """Each command of the README: every line of a bash block (``\\`` continuations joined), the first line of a
    python block."""
    commands = []
    for lang, body in readme_blocks(text):
        if lang == 'python':
            commands.append(body.splitlines()[0].strip())
        elif lang == 'bash':
            joined = re.sub(r'\\\n\s*', '', body)
            commands += [ln.strip() for ln in joined.splitlines() if ln.strip() and not ln.strip().startswith('#')]
        else:
            raise AssertionError(f'README block of language {lang!r}: use bash or python, so that it is checked')
    return commands


def _bash_blocks(text: str):
    return [body for lang, body in readme_blocks(text) if lang == 'bash']


def _tests_in(path: str):
    tree = ast.parse(open(osp.join(ROOT, path)).read())
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith('test_')}


def test_every_readme_command_is_run_by_a_named_test():
    commands = readme_commands(open(README).read())
    missing = [c for c in commands if c not in README_COMMANDS]
    assert not missing, f'README commands without a test in README_COMMANDS: {missing}'
    stale = [c for c in README_COMMANDS if c not in commands]
    assert not stale, f'README_COMMANDS entries no longer in the README: {stale}'
    for command, node in README_COMMANDS.items():
        path, name = node.split('::')
        assert name in _tests_in(path), f'{command!r}: {node} does not exist'


def test_ci_runs_exactly_the_readme_test_command():
    readme = open(README).read()
    demo_cmd, test_cmd = (b.strip() for b in _bash_blocks(readme)[:2])
    ci_lines = [ln.strip() for ln in open(osp.join(ROOT, '.ci', 'run')).read().splitlines()]
    assert test_cmd in ci_lines
    assert 'pytest' in test_cmd and 'pip install' in test_cmd
    assert demo_cmd == 'pip install -e . && bash tools/run_demo.sh'
    demo_script = open(osp.join(ROOT, 'tools', 'run_demo.sh')).read()
    for piece in re.findall(r'(tools/\S+\.py|local_configs/\S+\.py)', demo_script):
        assert osp.isfile(osp.join(ROOT, piece.replace('"', ''))), piece


def test_cpu_torch_index_is_the_official_one():
    """The CPU-only install names PyTorch's own CPU wheel index and comes before the install command."""
    readme = open(README).read()
    cpu = 'pip install torch --index-url https://download.pytorch.org/whl/cpu'
    assert cpu in readme and readme.index(cpu) > readme.index('pip install -e .')  # told after the two commands
    assert 'CPU build first' in readme


def test_readme_is_short_and_names_no_figure_without_a_placeholder_or_source():
    readme = open(README).read()
    assert len(readme.splitlines()) <= 200
    for word in ('agent', 'session'):
        assert word not in readme.lower()
    for target in re.findall(r'\]\((docs/[^)#]+)', readme):
        assert osp.isfile(osp.join(ROOT, target)), target
