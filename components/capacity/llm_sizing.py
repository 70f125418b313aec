"""Whether a large language model fits the GPUs of an instance type: weights plus a minimal KV cache per GPU.

An LLM server keeps the whole model in GPU memory, split across the GPUs of one node by tensor parallelism (vLLM's
`--tensor-parallel-size`; across nodes would need pipeline parallelism and a fast fabric, which this platform does
not set up), and needs room beyond the weights for the KV cache of at least one full-length request. Checking that
at declaration refuses a model that would crash-loop on out-of-memory after a 10-minute GPU cold start.

GPU memory per GPU, by family: g4dn 16 GiB (T4), g5 24 GiB (A10G), g6 24 GiB (L4): AWS Batch user guide, "GPU jobs"
table of instance types; g6e 48 GB (L40S), p4d 40 GB (A100 40 GB), p4de 80 GB (A100 80 GB), p5 80 GB (H100), p5e
141 GB (H200): NVIDIA's data-center GPU specifications for the GPU each EC2 family carries (EC2 instance type pages),
which quote decimal gigabytes: converted to GiB (7% less), so a model is never admitted on memory the GPU lacks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

from .._args import PositiveInt, PositiveNumber, between
from .gpu_instances import GPU_COUNT_BY_INSTANCE_TYPE

_GIB_PER_GB = 1e9 / 2**30
GPU_MEMORY_GIB_BY_FAMILY: dict[str, float] = {
    "g4dn": 16, "g5": 24, "g6": 24,
    **{family: round(gb * _GIB_PER_GB, 1) for family, gb in {"g6e": 48, "p4d": 40, "p4de": 80, "p5": 80,
                                                               "p5e": 141}.items()},
}

VLLM_GPU_MEMORY_UTILIZATION = 0.92
"""Share of each GPU vLLM 0.34.0 takes when it cannot grow its KV cache (vllm/config/cache.py,
`gpu_memory_utilization`: "0.92 otherwise"); the rest is CUDA context, activations and other processes."""


@dataclass(frozen=True)
class LlmSizing:
    """A large language model's size, and how it is spread over a node's GPUs."""

    parameters_billions: PositiveNumber
    """Parameters, in billions (8 for an 8B model)."""
    bytes_per_parameter: Annotated[float, between(0.25, 4)] = 2.0
    """2 for bf16/fp16 weights, 1 for fp8/int8, 0.5 for 4-bit."""
    tensor_parallel: PositiveInt = 1
    """GPUs of one node the weights are split over (vLLM `--tensor-parallel-size`); the pod requests as many."""
    min_kv_cache_gib: PositiveNumber = 2.0
    """KV cache the server needs beyond the weights, in GiB (all GPUs together): at least one request of the
    longest context it serves. Llama 3.1 8B in bf16 keeps 128 KiB per token (32 layers x 8 KV heads x 128 x 2 x 2
    bytes), so 8k tokens take 1 GiB."""

    @property
    def weights_gib(self) -> float:
        return self.parameters_billions * 1e9 * self.bytes_per_parameter / 2**30

    def disk_gib(self) -> int:
        """Node-local space a copy of the weights needs (a fifth more for tokenizer, config and a partial download)."""
        return math.ceil(self.weights_gib * 1.2)

    def fit_problem(self, instance_type: str, utilization: float = VLLM_GPU_MEMORY_UTILIZATION) -> str | None:
        """Why the model does not fit one node of `instance_type` (None when it does)."""
        gpus = GPU_COUNT_BY_INSTANCE_TYPE.get(instance_type)
        memory = GPU_MEMORY_GIB_BY_FAMILY.get(instance_type.split(".")[0])
        if gpus is None or memory is None:
            return f"{instance_type}: GPU memory unknown (families: {', '.join(sorted(GPU_MEMORY_GIB_BY_FAMILY))})"
        if self.tensor_parallel > gpus:
            return (f"{instance_type} has {gpus} GPU(s): tensor_parallel {self.tensor_parallel} would span nodes, "
                    "which needs pipeline parallelism")
        needed = (self.weights_gib + self.min_kv_cache_gib) / self.tensor_parallel
        usable = memory * utilization
        if needed > usable:
            return (f"{instance_type}: {self.weights_gib:.1f} GiB of weights + {self.min_kv_cache_gib:g} GiB KV cache "
                    f"over {self.tensor_parallel} GPU(s) needs {needed:.1f} GiB per GPU, {usable:.1f} GiB usable "
                    f"({memory:g} GiB x {utilization:g}); use a larger GPU or a larger tensor_parallel")
        return None


def fitting_instance_types(sizing: LlmSizing) -> list[str]:
    """The instance types one replica of the model fits on, cheapest families first as listed above."""
    order = list(GPU_MEMORY_GIB_BY_FAMILY)
    fits = [t for t in GPU_COUNT_BY_INSTANCE_TYPE if t.split(".")[0] in GPU_MEMORY_GIB_BY_FAMILY
            and sizing.fit_problem(t) is None]
    return sorted(fits, key=lambda t: (order.index(t.split(".")[0]), GPU_COUNT_BY_INSTANCE_TYPE[t]))
