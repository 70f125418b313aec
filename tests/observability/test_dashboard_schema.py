"""Every dashboard the program provisions is a valid Grafana dashboard by Grafana's own schema: the TypeScript types
@grafana/schema publishes for the Grafana that kube-prometheus-stack 88.5.3 installs (grafana chart 12.11.1,
appVersion 13.2.0; tests/observability/grafana-schema/package.json), checked by the TypeScript compiler with
`satisfies` (every required field present, no field the schema lacks, every value of its type). The CloudWatch Logs
queries the alerts link to are checked the same way against `CloudWatchLogsQuery`. No Grafana server is on the
registries this project uses, so nothing is rendered (docs/monitoring.md)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from components.observability.monitoring_dashboards import gpu_dashboard
from tests.harness import stack
from tests.needs import GRAFANA_SCHEMA_DIR, tool
from tests.test_observability_program import explore_query, model_alerts, provisioned_dashboards, with_observability

pytestmark = pytest.mark.tools("grafana-schema")

DASHBOARD = "@grafana/schema/dist/types/raw/dashboard/x/types.gen"
CLOUDWATCH_QUERY = "@grafana/schema/dist/types/raw/composable/cloudwatch/dataquery/x/types.gen"


def typecheck(tmp_path: Path, checks: list[tuple[str, str, dict]]) -> list[str]:
    """tsc's errors for `<value> satisfies <type>` of each (label, type, value), each error prefixed by its label."""
    lines = [f'import type {{ Dashboard }} from "{DASHBOARD}";',
             f'import type {{ CloudWatchLogsQuery }} from "{CLOUDWATCH_QUERY}";']
    labels = {}
    for i, (label, type_name, value) in enumerate(checks):
        labels[len(lines) + 1] = label
        body = json.dumps(value, indent=1).splitlines()
        lines.append(f"export const check{i} = {body[0]}")
        labels.update({len(lines) + n + 1: label for n in range(len(body) - 1)})
        lines += body[1:-1] + [f"{body[-1]} satisfies {type_name};"]
    (tmp_path / "dashboards.ts").write_text("\n".join(lines) + "\n")
    modules = str(GRAFANA_SCHEMA_DIR / "node_modules")
    (tmp_path / "tsconfig.json").write_text(json.dumps({
        "compilerOptions": {"strict": True, "noEmit": True, "target": "es2022", "module": "commonjs",
                            "moduleResolution": "node", "types": [], "baseUrl": ".",
                            "paths": {"@grafana/schema/*": [f"{modules}/@grafana/schema/*"]}},
        "files": ["dashboards.ts"]}))
    result = subprocess.run(["node", tool("grafana-schema"), "-p", str(tmp_path / "tsconfig.json")],
                            capture_output=True, text=True, timeout=300, check=False)
    errors = [line for line in result.stdout.splitlines() if "error TS" in line]
    assert errors or result.returncode == 0, result.stdout + result.stderr
    return [f"{labels.get(_line(e), '?')}: {e}" for e in errors]


def _line(error: str) -> int:
    """The line number of a tsc error (`dashboards.ts(12,5): error TS...`)."""
    match = re.search(r"\((\d+),", error)
    return int(match.group(1)) if match else 0


def stacks_dashboards() -> dict[str, dict]:
    """Every dashboard ConfigMap of the shipped stacks and of each with logs and traces on (links added)."""
    found: dict[str, dict] = {}
    for name in ("dev", "prod", "local"):
        for synthesis, kind in ((stack(name), "plain"), (with_observability(name), "linked")):
            found.update({f"{name} {uid} ({kind})": d for uid, d in provisioned_dashboards(synthesis).items()})
    return found


def test_every_provisioned_dashboard_and_every_alerts_cloudwatch_query_satisfy_grafanas_schema(tmp_path):
    dashboards = stacks_dashboards()
    linked = [d for k, d in dashboards.items() if "linked" in k]
    assert any(p.get("links") for d in linked for p in d["panels"]), "dashboards with their logs links are checked"
    assert any(d["uid"].startswith("gpus") for d in dashboards.values())
    queries = {a["annotations"]["logs_url"] for a in model_alerts(with_observability("dev"))}
    checks = [(label, "Dashboard", d) for label, d in dashboards.items()]
    checks += [(f"logs_url query {i}", "CloudWatchLogsQuery", explore_query(q)) for i, q in enumerate(sorted(queries))]
    assert len(checks) > len(dashboards), "the alerts' CloudWatch queries are checked too"
    assert typecheck(tmp_path, checks) == []


def test_the_schema_check_refuses_a_misspelt_field_a_missing_one_and_a_wrong_type(tmp_path):
    board = gpu_dashboard("gpus-x")
    misspelt = {**board, "panels": [{**board["panels"][0], "gridpos": board["panels"][0]["gridPos"]}]}
    missing = {k: v for k, v in board.items() if k != "schemaVersion"}
    wrong = {**board, "refresh": 30}
    errors = typecheck(tmp_path, [("good", "Dashboard", board), ("misspelt", "Dashboard", misspelt),
                                  ("missing", "Dashboard", missing), ("wrong", "Dashboard", wrong),
                                  ("query", "CloudWatchLogsQuery", {"refId": "A", "expression": "fields @message"})])
    assert {e.split(":")[0] for e in errors} == {"misspelt", "missing", "wrong", "query"}, errors
