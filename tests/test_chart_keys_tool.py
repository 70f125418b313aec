"""tools.chart_keys: the values keys files the chart checks read, made from a chart's values.yaml."""

from __future__ import annotations

import subprocess
import sys

from components._charts import unknown_keys
from tools.chart_keys import key_rows
from tools.synth import PROJECT_DIR

VALUES = """\
image:
  repository: x
  tag: ""
tolerations: []
podAnnotations: {}
affinity:
  podAntiAffinity:
    preferred: []
loki:
  limits_config:
    reject_old_samples: true
  config: |
    {{- with .Values.loki.limits_config }}
    limits_config: {{ toYaml . }}
    {{- end }}
"""


def run(*keys: str) -> dict[str, str]:
    out = subprocess.run([sys.executable, "-m", "tools.chart_keys", "header", *keys], input=VALUES, text=True,
                         capture_output=True, check=True, cwd=PROJECT_DIR, timeout=60).stdout
    assert out.startswith("# header\n")
    return dict(line.split("\t") for line in out.splitlines()[1:])


def test_every_key_gets_the_kind_of_its_default_parents_first():
    rows = list(key_rows({"a": {"b": 1, "c": []}, "d": {}}))
    assert rows == [("a", "map"), ("a.b", "scalar"), ("a.c", "list"), ("d", "empty-map")]


def test_maps_the_templates_render_whole_are_yaml_maps_and_so_are_named_keys():
    kinds = run()
    assert kinds["loki.limits_config"] == "yaml-map", "`with .Values.loki.limits_config` renders it whole"
    assert kinds["affinity"] == "map" and kinds["image"] == "map" and kinds["tolerations"] == "list"
    assert run("affinity")["affinity"] == "yaml-map"


def test_keys_below_a_yaml_map_are_free_and_others_are_checked(tmp_path):
    keys = tmp_path / "x.keys.tsv"
    keys.write_text("\n".join(f"{k}\t{v}" for k, v in run("affinity").items()))
    assert unknown_keys({"loki": {"limits_config": {"retention_period": "1d"}},
                         "affinity": {"nodeAffinity": {}}}, str(keys)) == []
    assert unknown_keys({"image": {"repo": "y"}}, str(keys)) == ["image.repo"]
