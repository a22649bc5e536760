"""The README's two commands stay true: CI runs exactly the test command, and the demo command's pieces exist."""
import os.path as osp
import re

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _bash_blocks(text: str):
    return re.findall(r'```bash\n(.*?)```', text, flags=re.S)


def test_ci_runs_exactly_the_readme_test_command():
    readme = open(osp.join(ROOT, 'README.md')).read()
    demo_cmd, test_cmd = (b.strip() for b in _bash_blocks(readme)[:2])
    ci_lines = [ln.strip() for ln in open(osp.join(ROOT, '.ci', 'run')).read().splitlines()]
    assert test_cmd in ci_lines
    assert 'pytest' in test_cmd and 'pip install' in test_cmd
    assert demo_cmd == 'pip install -e . && bash tools/run_demo.sh'
    demo_script = open(osp.join(ROOT, 'tools', 'run_demo.sh')).read()
    for piece in re.findall(r'(tools/\S+\.py|local_configs/\S+\.py)', demo_script):
        assert osp.isfile(osp.join(ROOT, piece.replace('"', ''))), piece
