"""CPU deployment: the onnxruntime backend (fp32 and INT8) behind ``init_segmentor(..., backend=...)``, ONNX export,
post-training quantization and precision selection. Heavy imports (onnx, onnxruntime) happen on first use."""
from .onnx_export import ExportError, ExportWrapper, check_graph, export

__all__ = ['ExportError', 'ExportWrapper', 'check_graph', 'export']
