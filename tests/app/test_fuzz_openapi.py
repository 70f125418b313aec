"""Schemathesis fuzzing against the protocol's own OpenAPI document (KServe's rest_predict_v2.yaml,
source in tests/app/data/SOURCES.md): valid and invalid requests on every documented path, a bounded
and reproducible number of examples, and not one 5xx."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.app.conftest import MODEL_NAME, ServerProcess, TinyModel

pytestmark = pytest.mark.slow

SPEC = Path(__file__).parent / "data" / "rest_predict_v2.yaml"
EXAMPLES = 200  # about 20 s: schemathesis spends ~0.1 s generating each example


def _schema():
    import schemathesis

    document = yaml.safe_load(SPEC.read_text())
    # The document writes path parameters as `${MODEL_NAME}`; OpenAPI's template form is `{MODEL_NAME}`.
    document["paths"] = {path.replace("${", "{"): item for path, item in document["paths"].items()}
    document["servers"] = []
    return schemathesis.openapi.from_dict(document)


@pytest.fixture(scope="module")
def server(tiny_model: TinyModel, tmp_path_factory: pytest.TempPathFactory):
    proc = ServerProcess(tiny_model.dir, tmp_path_factory.mktemp("fuzz-server"))
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


def _strategy(version: str):
    from schemathesis import GenerationMode

    schema = _schema()
    served = {"MODEL_NAME": MODEL_NAME, "MODEL_VERSION": version}
    # Half the examples on the served model (so inference bodies are parsed), half on fuzzed names.
    return st.one_of(schema.as_strategy(GenerationMode.POSITIVE, path_parameters=served),
                     schema.as_strategy(GenerationMode.NEGATIVE, path_parameters=served),
                     schema.as_strategy(GenerationMode.POSITIVE), schema.as_strategy(GenerationMode.NEGATIVE))


def test_the_openapi_document_is_kserves_unchanged_file() -> None:
    text = SPEC.read_text()
    assert text.startswith("openapi: 3.0.0") and "/v2/models/${MODEL_NAME}/versions/${MODEL_VERSION}/infer" in text
    assert "kserve/kserve" in (SPEC.parent / "SOURCES.md").read_text()


def test_fuzzed_protocol_requests_never_get_a_5xx(server: ServerProcess, tiny_model: TinyModel) -> None:
    base_url = f"http://127.0.0.1:{server.port}"
    seen: dict[int, int] = {}

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=_strategy(tiny_model.version))
    def check(case) -> None:
        response = case.call(base_url=base_url, timeout=10)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code < 500, (case.method, case.formatted_path, case.body, response.text[:300])
        content_type = (response.headers.get("content-type") or [""])[0]
        assert content_type == "application/json", (case.method, case.formatted_path, response.headers)
        if response.status_code >= 400:
            assert set(response.json()) == {"error"}

    check()
    assert sum(seen.values()) >= EXAMPLES // 2
    assert seen.get(200, 0) > 0 and any(400 <= status < 500 for status in seen), seen
    assert server.proc.poll() is None
