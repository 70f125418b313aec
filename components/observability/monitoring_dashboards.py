"""Grafana dashboards as JSON models, built by small functions.

Plain dicts rather than `grafana-foundation-sdk`: the component library may depend on the Pulumi
packages only (adopters install it next to their own programs), and the few panel kinds used here
need no builder. Each dashboard goes into a ConfigMap that the Grafana sidecar picks up by label.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from .monitoring_rules import DCGM_JOB, INFER_ROUTES, ModelTarget, RolloutSignals, ScaleToZeroSignals

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
                  "hide": 0, "current": {}}
    return {
        "uid": uid, "title": title, "tags": ["gpu-model-platform", *tags], "editable": False,
        "schemaVersion": 39, "version": 1, "timezone": "utc", "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [datasource, *(variables or [])]},
        "panels": [{**p, "id": i + 1} for i, p in enumerate(panels)],
    }


def model_dashboard(uid: str, target: ModelTarget, availability: float, latency_p99_seconds: float,
                    scale_to_zero: ScaleToZeroSignals | None = None, rollout: RolloutSignals | None = None) -> dict[str, Any]:
    """Traffic, errors, latency percentiles, batch sizes, replicas and GPU memory of one model (and, when it
    scales to zero, its held requests, the interceptor's answers and each wake-up's cold-start time)."""
    m, ns = target.model, target.namespace
    infer = target.metric_selector(route=f'~"{INFER_ROUTES}"')
    errors = target.metric_selector(route=f'~"{INFER_ROUTES}"', status='~"5.."')
    rate = "[$__rate_interval]"
    by_le = "sum by (le) (rate(inference_request_duration_seconds_bucket" + infer + rate + "))"
    batch_le = "sum by (le) (rate(inference_batch_size_bucket" + target.metric_selector() + rate + "))"
    workload = f'namespace="{ns}", deployment="{m}"'
    panels = [
        _panel("Inference requests per second by status",
               [(f"sum by (status) (rate(inference_requests_total{infer}{rate}))", "{{status}}")],
               "reqps", (0, 0, 12, 8)),
        _panel("Server error ratio (5xx) and its objective",
               [(f"sum(rate(inference_requests_total{errors}{rate})) / sum(rate(inference_requests_total{infer}{rate}))",
                 "5xx share"),
                (f"vector({1 - availability:.6g})", "error budget")],
               "percentunit", (12, 0, 12, 8), "Bad requests (4xx) are the caller's problem and not counted."),
        _panel("Inference latency percentiles",
               [(f"histogram_quantile({q}, {by_le})", f"p{round(q * 100)}") for q in (0.5, 0.9, 0.99)]
               + [(f"vector({latency_p99_seconds:.6g})", "p99 objective")],
               "s", (0, 8, 12, 8)),
        _panel("Batch size (rows per model execution)",
               [(f"histogram_quantile({q}, {batch_le})", f"p{round(q * 100)}") for q in (0.5, 0.99)]
               + [((f"sum(rate(inference_batch_size_sum{target.metric_selector()}{rate})) / "
                   f"sum(rate(inference_batch_size_count{target.metric_selector()}{rate}))"), "mean")],
               "none", (12, 8, 12, 8)),
        _panel("Requests in flight and waiting for a batch",
               [(f"sum(inference_requests_in_flight{target.metric_selector()})", "in flight"),
                (f"sum(inference_batch_queue_depth{target.metric_selector()})", "queued")],
               "none", (0, 16, 12, 8)),
        _panel("Replicas",
               [(f"count(inference_model_info{target.metric_selector()})", "serving a loaded model"),
                (f"sum(kube_deployment_status_replicas_available{{{workload}}})", "available"),
                (f"sum(kube_deployment_spec_replicas{{{workload}}})", "desired")],
               "none", (12, 16, 12, 8)),
        _panel("Model version and device",
               [(f"count by (version, device) (inference_model_info{target.metric_selector()})",
                 "{{version}} on {{device}}")],
               "none", (0, 24, 12, 8), kind="stat"),
        _panel("GPU memory used by the model's pods",
               [(f"inference_gpu_memory_used_bytes{{{target.target_selector()}}}", "{{pod}} {{device}}")],
               "bytes", (12, 24, 12, 8)),
        _panel("Container restarts (1h)",
               [(f'increase(kube_pod_container_status_restarts_total{{namespace="{ns}", container="{m}"}}[1h])',
                 "{{pod}}")],
               "none", (0, 32, 24, 6)),
    ]
    if scale_to_zero is not None:
        panels += _scale_to_zero_panels(ns, scale_to_zero, y=38)
    if rollout is not None:
        panels += _rollout_panels(target, rollout, y=max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels))
    return _dashboard(uid, f"Model {m} ({ns})", ["model", m], panels)


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
            "definition": f'label_values(DCGM_FI_DEV_GPU_UTIL{{job="{dcgm_job}"}}, node)',
            "multi": True, "includeAll": True, "refresh": 2, "current": {}}
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
