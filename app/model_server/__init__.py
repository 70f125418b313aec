"""Open Inference Protocol (v2) REST server for one ONNX model, with dynamic batching.

Run with `python -m model_server`; configured only by environment variables (see app/README.md).
"""

__version__ = "0.1.0"
SERVER_NAME = "gpu-model-platform-model-server"
