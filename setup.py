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
        'deploy': ['onnx', 'onnxruntime', 'onnxscript'],
        'hub': ['huggingface_hub'],  # from_pretrained('hf-hub:owner/name')
        'tests': ['pytest', 'pytest-xdist', 'huggingface_hub', 'onnx', 'onnxruntime', 'onnxscript', 'scikit-image'],
    },
    zip_safe=False,
)
