"""Grafana dashboards as JSON models, built by small functions.

Plain dicts rather than `grafana-foundation-sdk`: the component library may depend on the Pulumi
packages only (adopters install it next to their own programs), and the few panel kinds used here
need no builder. Each dashboard goes into a ConfigMap that the Grafana sidecar picks up by label.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from ..serving.runtimes import RuntimeSignals, Series
from .monitoring_rules import (
    DCGM_JOB,
    INFER_ROUTES,
    ModelTarget,
    RolloutSignals,
    ScaleToZeroSignals,
    TokenLatencyObjectives,
    quantile_expr,
    series_selector,
)

DASHBOARD_LABEL = {"grafana_dashboard": "1"}
"""The label kube-prometheus-stack's Grafana sidecar looks for (`grafana.sidecar.dashboards.label`)."""
FOLDER_ANNOTATION = "grafana_folder"
"""The annotation the sidecar turns into a Grafana folder (`sidecar.dashboards.folderAnnotation`)."""
FOLDER = "GPU Model Platform"
_DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
_UID_MAX = 40  # Grafana refuses longer uids


def dashboard_uid(prefix: str, name: str) -> str:
    """A readable uid unique per instance name; long names keep a hash so they stay distinct."""
    slug = re.sub(r"[^a-z0-9-]+", "-", f"{prefix}-{name}".lower()).strip("-")
    if len(slug) <= _UID_MAX:
        return slug
    return f"{slug[:_UID_MAX - 9]}-{hashlib.sha256(slug.encode()).hexdigest()[:8]}"


def _panel(title: str, targets: list[tuple[str, str]], unit: str, grid: tuple[int, int, int, int],
           description: str = "", kind: str = "timeseries") -> dict[str, Any]:
    x, y, w, h = grid
    return {
        "type": kind, "title": title, "description": description, "datasource": _DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]}}
        if kind == "timeseries" else {},
        "targets": [{"refId": chr(ord("A") + i), "datasource": _DATASOURCE, "expr": expr, "legendFormat": legend}
                    for i, (expr, legend) in enumerate(targets)],
    }


def _dashboard(uid: str, title: str, tags: list[str], panels: list[dict[str, Any]],
               variables: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    datasource = {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
                  "hide": 0}
    return {
        "uid": uid, "title": title, "tags": ["gpu-model-platform", *tags], "editable": False,
        "schemaVersion": 39, "version": 1, "timezone": "utc", "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [datasource, *(variables or [])]},
        "panels": [{**p, "id": i + 1} for i, p in enumerate(panels)],
    }


def _layout(panels: list[tuple[str, list[tuple[str, str]], str, int, str, str]], y: int) -> list[dict[str, Any]]:
    """Panels (title, targets, unit, width, description, kind) placed left to right in rows of 24 columns."""
    placed, x = [], 0
    for title, targets, unit, width, description, kind in panels:
        if x + width > 24:
            x, y = 0, y + 8
        placed.append(_panel(title, targets, unit, (x, y, width, 8 if width < 24 else 6), description, kind))
        x += width
    return placed


def model_dashboard(uid: str, target: ModelTarget, availability: float, latency_p99_seconds: float,
                    scale_to_zero: ScaleToZeroSignals | None = None, rollout: RolloutSignals | None = None,
                    tokens: TokenLatencyObjectives | None = None) -> dict[str, Any]:
    """Traffic, errors, latency percentiles, batch sizes, replicas and GPU memory of one model, as far as its runtime
    exposes them (and, for an LLM server, a row of tokens, token latencies and KV cache; when it scales to zero,
    its held requests, the interceptor's answers and each wake-up's cold-start time)."""
    m, ns = target.model, target.namespace
    panels = _layout(_model_panels(target, availability, latency_p99_seconds), y=0)
    if _has_tokens(target.signals):
        panels += _token_panels(target, tokens or TokenLatencyObjectives(), y=_bottom(panels))
    if scale_to_zero is not None:
        panels += _scale_to_zero_panels(ns, scale_to_zero, y=_bottom(panels))
    if rollout is not None:
        panels += _rollout_panels(target, rollout, y=_bottom(panels))
    return _dashboard(uid, f"Model {m} ({ns})", ["model", m], panels)


def _bottom(panels: list[dict[str, Any]]) -> int:
    return max(int(p["gridPos"]["y"]) + int(p["gridPos"]["h"]) for p in panels)


_RATE = "$__rate_interval"


def _model_panels(target: ModelTarget, availability: float,
                  latency_p99_seconds: float) -> list[tuple[str, list[tuple[str, str]], str, int, str, str]]:
    s, m, ns = target.signals, target.model, target.namespace
    requests = [(f"sum({_rate(target, r)})", r.metric) for r in s.requests]
    if len(s.requests) == 1 and s.status_label:
        requests = [(f"sum by ({s.status_label}) ({_rate(target, s.requests[0])})", f"{{{{{s.status_label}}}}}")]
    workload = f'namespace="{ns}", deployment="{m}"'
    panels = [
        ("Inference requests per second by status" if s.status_label else "Inference requests per second",
         requests, "reqps", 12, "", "timeseries"),
        ("Server error ratio (5xx) and its objective",
         [(f"sum({_rate(target, s.errors)}) / {error_total(target)}", "5xx share"),
          (f"vector({1 - availability:.6g})", "error budget")],
         "percentunit", 12, "Bad requests (4xx) are the caller's problem and not counted.", "timeseries"),
    ]
    if s.latency is not None:
        panels.append(("Inference latency percentiles",
                       [(quantile_expr(target, s.latency, _RATE, q, by=""), f"p{round(q * 100)}") for q in (0.5, 0.9, 0.99)]
                       + [(f"vector({latency_p99_seconds:.6g})", "p99 objective")], "s", 12, "", "timeseries"))
    if s.batch_size is not None:
        b = s.batch_size.series
        panels.append(("Batch size (rows per model execution)",
                       [(quantile_expr(target, s.batch_size, _RATE, q, by=""), f"p{round(q * 100)}") for q in (0.5, 0.99)]
                       + [((f"sum(rate({b.metric}_sum{series_selector(target, b)}[{_RATE}])) / "
                            f"sum(rate({b.metric}_count{series_selector(target, b)}[{_RATE}]))"), "mean")],
                       "none", 12, "", "timeseries"))
    load = [(f"sum({g.metric}{series_selector(target, g)})", legend)
            for g, legend in ((s.in_flight, "in flight"), (s.queue_depth, "queued")) if g is not None]
    if load:
        panels.append(("Requests in flight and waiting for a batch", load, "none", 12, "", "timeseries"))
    ready = (f"count({s.ready.metric}{series_selector(target, s.ready)})" if s.ready is not None
             else f"count(up{{{target.target_selector()}}} == 1)")
    panels.append(("Replicas", [(ready, "serving a loaded model"),
                                (f"sum(kube_deployment_status_replicas_available{{{workload}}})", "available"),
                                (f"sum(kube_deployment_spec_replicas{{{workload}}})", "desired")], "none", 12, "",
                   "timeseries"))
    if s.ready is not None and s.info_labels:
        labels = ", ".join(s.info_labels)
        panels.append(("Model version and device",
                       [(f"count by ({labels}) ({s.ready.metric}{series_selector(target, s.ready)})",
                         " on ".join(f"{{{{{label}}}}}" for label in s.info_labels))], "none", 12, "", "stat"))
    if s.device_memory is not None:
        legend = f"{{{{pod}}}} {{{{{s.device_label}}}}}" if s.device_label else "{{pod}}"
        panels.append(("GPU memory used by the model's pods",
                       [(f"{s.device_memory.metric}{series_selector(target, s.device_memory)}", legend)],
                       "bytes", 12, "", "timeseries"))
    panels.append(("Container restarts (1h)",
                   [(f'increase(kube_pod_container_status_restarts_total{{namespace="{ns}", container="{m}"}}[1h])',
                     "{{pod}}")], "none", 24, "", "timeseries"))
    return panels


def _rate(target: ModelTarget, series: Series) -> str:
    return f"rate({series.metric}{series_selector(target, series)}[{_RATE}])"


def error_total(target: ModelTarget) -> str:
    """All inference requests per second over Grafana's rate interval (the error ratio's denominator)."""
    total = " + ".join(f"sum({_rate(target, r)})" for r in target.signals.requests)
    return total if len(target.signals.requests) == 1 else f"({total})"


def _has_tokens(s: RuntimeSignals) -> bool:
    return any(x is not None for x in (s.time_to_first_token, s.inter_token_latency, s.generation_tokens,
                                       s.kv_cache_usage))


def _token_panels(target: ModelTarget, tokens: TokenLatencyObjectives, y: int) -> list[dict[str, Any]]:
    """An LLM server's row: tokens per second, p50/p99 time to first token and inter-token latency, KV cache use."""
    s = target.signals
    rows: list[tuple[str, list[tuple[str, str]], str, int, str, str]] = []
    rates = [(f"sum({_rate(target, c)})", legend)
             for c, legend in ((s.prompt_tokens, "prompt"), (s.generation_tokens, "generated")) if c is not None]
    if rates:
        rows.append(("Tokens per second", rates, "short", 12, "Prompt tokens read and tokens generated.", "timeseries"))
    for title, distribution, objective in (
            ("Time to first token", s.time_to_first_token, tokens.time_to_first_token_p99_seconds),
            ("Inter-token latency", s.inter_token_latency, tokens.inter_token_latency_p99_seconds)):
        if distribution is not None:
            rows.append((title, [(quantile_expr(target, distribution, _RATE, q, by=""), f"p{round(q * 100)}")
                                 for q in (0.5, 0.99)]
                         + ([(f"vector({objective:.6g})", "p99 objective")] if objective is not None else []),
                         "s", 12, "", "timeseries"))
    if s.kv_cache_usage is not None:
        rows.append(("KV cache use", [(f"max({s.kv_cache_usage.metric}{series_selector(target, s.kv_cache_usage)})",
                                       "fullest replica")], "percentunit", 12,
                     "Near 1, new requests wait for cache blocks: the LLM scale signal.", "timeseries"))
    return _layout(rows, y)


def _scale_to_zero_panels(ns: str, s: ScaleToZeroSignals, y: int) -> list[dict[str, Any]]:
    """Held requests and answers at the KEDA HTTP interceptor, and how long each wake-up took (kube-state-metrics)."""
    route = f'route_namespace="{ns}", route_name="{s.route_name}"'
    # The model's pods only: `<deployment>-<template hash>-<suffix>` (the cold-start answer's pods have more dashes).
    pods = f'namespace="{ns}", pod=~"{s.deployment}-[a-z0-9]+-[a-z0-9]+"'
    return [
        _panel("Requests held at the interceptor (waiting for a replica or being served)",
               [(f"sum(interceptor_request_concurrency{{{route}}})", "held or in flight"),
                (f'sum(kube_deployment_spec_replicas{{namespace="{ns}", deployment="{s.deployment}"}})', "desired replicas")],
               "none", (0, y, 12, 8), "Zero desired replicas and nothing held: asleep on purpose."),
        _panel("Interceptor answers by code",
               [(f"sum by (code) (rate(interceptor_request_count_total{{{route}}}[$__rate_interval]))", "{{code}}")],
               "reqps", (12, y, 12, 8), "503 = a request outwaited the cold start and got the Retry-After answer."),
        _panel("Cold start: seconds from pod creation to Ready",
               [(f"max by (pod) (kube_pod_status_ready_time{{{pods}}} - on (namespace, pod) kube_pod_created{{{pods}}})",
                 "{{pod}}")],
               "s", (0, y + 8, 24, 8), "Node provisioning, image pull and model load of each new replica."),
    ]


def _rollout_panels(target: ModelTarget, r: RolloutSignals, y: int) -> list[dict[str, Any]]:
    """The Rollout's phase (Progressing, Paused, Completed, Abort...), its replicas, and canary against stable."""
    ns, rollout = target.namespace, r.selector(target.namespace)
    infer = f'route=~"{INFER_ROUTES}"'
    by_hash = f"{target.target_selector()}, model=\"{target.model}\", {infer}"
    return [
        _panel("Rollout state", [(f"max by (phase) (rollout_info{rollout}) == 1", "{{phase}}")], "none", (0, y, 8, 8),
               "Progressing: a canary step is running; Paused: waiting for promote (or an inconclusive analysis); "
               "Abort: the canary failed and the stable version serves everything; Completed: fully promoted.",
               kind="state-timeline"),
        _panel("Rollout replicas",
               [(f"sum(rollout_info_replicas_{kind}{rollout})", kind) for kind in ("desired", "available", "updated")],
               "none", (8, y, 8, 8), "updated = pods of the newest version (the canary until promotion)."),
        _panel("5xx share by pod template (canary and stable)",
               [(f"sum by (rollouts_pod_template_hash) (rate(inference_requests_total{{{by_hash}, status=~\"5..\"}}"
                 f"[$__rate_interval])) / sum by (rollouts_pod_template_hash) (rate(inference_requests_total{{{by_hash}}}"
                 "[$__rate_interval]))", "{{rollouts_pod_template_hash}}")],
               "percentunit", (16, y, 8, 8), f"Namespace {ns}; the analysis compares the same two series."),
    ]


def gpu_dashboard(uid: str, title: str = "GPUs", dcgm_job: str = DCGM_JOB) -> dict[str, Any]:
    """Utilisation, memory, temperature and power of every GPU, per node and per pod."""
    on_node = f'job="{dcgm_job}", node=~"$node"'
    with_pod = f'{on_node}, pod!=""'
    node = {"name": "node", "label": "Node", "type": "query", "datasource": _DATASOURCE,
            "query": {"query": f'label_values(DCGM_FI_DEV_GPU_UTIL{{job="{dcgm_job}"}}, node)', "refId": "node"},
            "multi": True, "includeAll": True, "refresh": 2}
    panels = [
        _panel("Utilisation per GPU", [(f"DCGM_FI_DEV_GPU_UTIL{{{on_node}}}", "{{node}} gpu{{gpu}}")],
               "percent", (0, 0, 12, 8)),
        _panel("Utilisation per pod", [(f"sum by (namespace, pod) (DCGM_FI_DEV_GPU_UTIL{{{with_pod}}})",
                                        "{{namespace}}/{{pod}}")], "percent", (12, 0, 12, 8)),
        _panel("Memory used per node", [(f"sum by (node) (DCGM_FI_DEV_FB_USED{{{on_node}}})", "{{node}} used"),
                                        (f"sum by (node) (DCGM_FI_DEV_FB_FREE{{{on_node}}})", "{{node}} free")],
               "decmbytes", (0, 8, 12, 8), "Framebuffer memory as the exporter reports it, in MiB."),
        _panel("Memory used per pod", [(f"sum by (namespace, pod) (DCGM_FI_DEV_FB_USED{{{with_pod}}})",
                                        "{{namespace}}/{{pod}}")], "decmbytes", (12, 8, 12, 8)),
        _panel("Temperature per GPU", [(f"DCGM_FI_DEV_GPU_TEMP{{{on_node}}}", "{{node}} gpu{{gpu}}")],
               "celsius", (0, 16, 12, 8)),
        _panel("Power per node", [(f"sum by (node) (DCGM_FI_DEV_POWER_USAGE{{{on_node}}})", "{{node}}")],
               "watt", (12, 16, 12, 8)),
        _panel("Power per pod", [(f"sum by (namespace, pod) (DCGM_FI_DEV_POWER_USAGE{{{with_pod}}})",
                                  "{{namespace}}/{{pod}}")], "watt", (0, 24, 12, 8)),
        _panel("Last XID error per GPU", [(f"max without (err_code, err_msg) (DCGM_FI_DEV_XID_ERRORS{{{on_node}}})",
                                           "{{node}} gpu{{gpu}}")], "none", (12, 24, 12, 8),
               "The exporter keeps the last XID until it restarts; see the GpuXidError runbook."),
    ]
    return _dashboard(uid, title, ["gpu"], panels, [node])
