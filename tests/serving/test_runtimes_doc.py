"""docs/runtimes.md states what the code does: its code runs, its numbers follow from the code and its sources."""

from __future__ import annotations

import re

import botocore.session

from components.capacity.llm_sizing import LlmSizing
from components.serving.runtimes import MODEL_SERVER, TRITON, VLLM
from tools.synth import PROJECT_DIR

DOC = (PROJECT_DIR / "docs" / "runtimes.md").read_text()


# Its code runs under the mocks and type-checks in tests/test_docs_programs.py (program `runtimes-own-server`).


def test_the_profile_table_names_each_profiles_series_and_ports():
    for runtime in (MODEL_SERVER, VLLM, TRITON):
        assert f"http {runtime.http_port}" in DOC
        for name in runtime.metric_names():
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            assert base in DOC, f"{runtime.name}: {base} missing from docs/runtimes.md"


def test_the_weights_sizes_and_read_times_follow_from_the_sizing():
    eight, seventy = LlmSizing(8).weights_gib, LlmSizing(70).weights_gib
    assert f"{eight:.1f} GiB" in DOC and f"{seventy:.1f} GiB" in DOC
    assert f"≥ {eight * 2**30 * 8 / 10e9:.1f} s at 10 Gbit/s" in DOC
    assert f"≥ {seventy * 2**30 * 8 / 400e9:.1f} s at 400 Gbit/s" in DOC
    assert round(eight * 1024 / 125 / 60) == 2 and round(seventy * 1024 / 125 / 60) == 18


def test_gp3s_default_throughput_is_what_ec2s_api_says():
    ec2 = botocore.session.get_session().get_service_model("ec2")
    documentation = ec2.operation_model("ModifyVolume").input_shape.members["Throughput"].documentation
    assert "125" in documentation and "125 MiB/s" in DOC


def test_the_cost_per_million_tokens_is_the_rate_over_the_tokens_an_hour():
    for tokens_per_second, cost in ((1000, "$4.10"), (100, "$40.97")):
        assert f"{14.75 / (tokens_per_second * 3600) * 1e6:.2f}" == cost[1:] and cost in DOC
