"""CPU deployment: the runtimes that plug into ``EncoderDecoder.use_runtime`` (PyTorch bf16, compiled PyTorch,
onnxruntime, OpenVINO), their selection (``backends``, the measured ``auto``), ONNX export, INT8 quantization and the
label-agreement vocabulary. Heavy imports (onnx, onnxruntime, openvino, nncf) happen on first use."""
from .onnx_export import ExportError, ExportWrapper, check_graph, export

__all__ = ['ExportError', 'ExportWrapper', 'check_graph', 'export']
