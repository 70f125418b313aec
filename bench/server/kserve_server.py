"""The digits ONNX model behind KServe's Python model server (kserve.ModelServer), for the benchmark.

Run with the kserve virtualenv's python (bench/server/run.py does):
    python kserve_server.py --model-path app/artifacts/model.onnx --http-port 8090
KServe always binds 0.0.0.0; this adapter forces 127.0.0.1, and turns off gRPC and per-request
logging so that, like our server, it spends its time serving, not logging.
"""
from __future__ import annotations

import argparse
import sys
import uuid

import uvicorn

_Config = uvicorn.Config


class _LoopbackConfig(_Config):
    def __init__(self, *args, **kwargs):
        kwargs["host"] = "127.0.0.1"
        kwargs["access_log"] = False
        super().__init__(*args, **kwargs)


uvicorn.Config = _LoopbackConfig  # kserve's REST server builds uvicorn.Config(host="0.0.0.0", ...)

import numpy as np  # noqa: E402 (after the loopback patch above)
import onnxruntime as ort  # noqa: E402 (after the loopback patch above)
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer  # noqa: E402 (after the loopback patch above)


class OnnxDigits(Model):
    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.path = path
        self.session = None

    def load(self) -> bool:
        options = ort.SessionOptions()  # same session settings as our server
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(self.path, sess_options=options, providers=["CPUExecutionProvider"])
        self.ready = True
        return self.ready

    def predict(self, payload: InferRequest, headers=None, response_headers=None) -> InferResponse:
        x = payload.inputs[0].as_numpy().astype(np.float32, copy=False)
        (y,) = self.session.run(["output"], {"input": x})
        output = InferOutput(name="output", shape=list(y.shape), datatype="FP32")
        output.set_data_from_numpy(y, binary_data=False)
        # Like our server, answer with a fresh id when the request has none (KServe requires one).
        return InferResponse(model_name=self.name, infer_outputs=[output], response_id=payload.id or uuid.uuid4().hex)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-path", required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--model-name", default="my-ai-model")
    args = parser.parse_args()
    model = OnnxDigits(args.model_name, args.model_path)
    model.load()
    ModelServer(http_port=args.http_port, workers=1, enable_grpc=False, enable_docs_url=False,
                enable_latency_logging=False).start([model])
    return 0


if __name__ == "__main__":
    sys.exit(main())
