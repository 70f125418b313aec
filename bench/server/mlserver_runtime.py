"""The digits ONNX model as an MLServer custom runtime, for the benchmark.

There is no `mlserver-onnx` package on PyPI, so this is MLServer's documented custom-runtime
route: an MLModel whose predict() runs ONNX Runtime. bench/server/run.py writes the
settings.json / model-settings.json that point MLServer at it.
"""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class OnnxDigits(MLModel):
    async def load(self) -> bool:
        options = ort.SessionOptions()  # same session settings as our server
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(self.settings.parameters.uri, sess_options=options,
                                             providers=["CPUExecutionProvider"])
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        x = NumpyCodec.decode_input(payload.inputs[0]).astype(np.float32, copy=False)
        (y,) = self._session.run(["output"], {"input": x})
        return InferenceResponse(model_name=self.name, model_version=self.version, id=payload.id,
                                 outputs=[NumpyCodec.encode_output("output", y)])
