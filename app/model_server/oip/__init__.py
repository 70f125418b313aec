"""The Open Inference Protocol's gRPC definition and the stubs generated from it.

grpc_predict_v2.proto is the protocol's published file, unchanged: github.com/kserve/kserve at tag
v0.20.0 (commit 1fb781055dd1567164358233e1125142ca6ef1fe), path docs/predict-api/v2/grpc_predict_v2.proto.
The *_pb2*.py files are generated from it (checked in so the image needs no code generator); regenerate with

    python -m grpc_tools.protoc -I app --python_out=app --grpc_python_out=app app/model_server/oip/grpc_predict_v2.proto

(grpcio-tools, pinned in requirements-dev.txt).

model_statistics.proto declares the messages of Triton's ModelStatistics call, which KServe's file lacks:
field names and numbers from github.com/triton-inference-server/common at r24.10 (commit
578491fc3944f77d16a6a38e3d7691c485c47ba0, the Triton of bench/server), protobuf/grpc_service.proto. Its
messages only (the call is registered by hand in grpc_service.py):

    python -m grpc_tools.protoc -I app --python_out=app app/model_server/oip/model_statistics.proto

tests/app/test_binary_and_grpc.py fails when the generated files are stale.
"""
