"""Running LGFormer off PyTorch: ONNX export (``onnx_export``) and ONNX Runtime (``onnx_model``).

Needs the ``lgformer[onnx]`` extra (onnx, onnxscript, onnxruntime).
"""
