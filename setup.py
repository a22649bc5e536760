"""Install with ``pip install -e .`` (add ``[deploy]`` for ONNX export, ``[tests]`` for the test suite)."""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def read_requirements(name: str):
    lines = (HERE / name).read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith('#')]


version: dict = {}
exec((HERE / 'mmseg' / 'version.py').read_text(), version)

setup(
    name='segnext',
    version=version['__version__'],
    description='SegNeXt (NeurIPS 2022) semantic segmentation: MSCAN + LightHamHead on pure PyTorch',
    long_description=(HERE / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9',
    packages=find_packages(include=['mmseg', 'mmseg.*']),
    install_requires=read_requirements('requirements.txt'),
    extras_require={
        # openvino and nncf: wheels for Python 3.9-3.12 (pip resolves openvino 2025.3 on 3.9, 2026.x on 3.10+)
        'deploy': ['onnx', 'onnxruntime', 'onnxscript', 'openvino', 'nncf'],
        'hub': ['huggingface_hub'],  # from_pretrained('hf-hub:owner/name')
        'tests': ['pytest', 'pytest-xdist', 'huggingface_hub', 'onnx', 'onnxruntime', 'onnxscript', 'openvino', 'nncf',
                  'scikit-image'],
    },
    zip_safe=False,
)
