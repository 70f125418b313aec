"""Prometheus alerting and recording rules for a model and for the GPUs, as data.

Every builder returns rule groups in the rule-file shape (`{"name": ..., "rules": [...]}`), which is
also the `spec.groups` of a PrometheusRule, so the same data is deployed and checked by
`promtool`. Thresholds and `for:` durations live in frozen dataclasses whose defaults are the
production values; a test passes short ones without touching production.

Metric names are the inference server's contract (app/README.md), the DCGM exporter's default
counters (etc/default-counters.csv of dcgm-exporter 4.5.3-4.8.2) and kube-state-metrics 2.20.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from ._args import DnsLabel, DnsSubdomain, Duration, PositiveInt, PositiveNumber, between

Severity = Literal["critical", "warning", "info"]

RUNBOOKS_URL = "docs/runbooks.md"
"""This repository's runbooks (its own stacks point their alerts here through `monitoring.runbookBaseUrl`).
The components default to no `runbook_url` at all: pass the URL of your own rendered copy."""

INFER_ROUTES = ".*/infer"
"""`route` label values of inference calls (`/v2/models/{name}[/versions/{version}]/infer`)."""

DCGM_JOB = "dcgm-exporter"
"""`job` of DCGM exporter targets: the ServiceMonitor takes it from the Service's
`app.kubernetes.io/name` label (the exporter chart's name)."""


@dataclass(frozen=True)
class BurnRateWindow:
    """One multi-window burn-rate condition (Google SRE workbook, chapter 5).

    Fires when the error ratio over both windows exceeds `burn_rate` times the error budget:
    the long window proves the burn is significant, the short one that it is still going on.
    """

    severity: Severity
    long_window: Duration
    short_window: Duration
    burn_rate: PositiveNumber
    for_: Duration


DEFAULT_BURN_RATE_WINDOWS: tuple[BurnRateWindow, ...] = (
    BurnRateWindow("critical", "1h", "5m", 14.4, "2m"),   # 2% of a 30-day budget in one hour
    BurnRateWindow("critical", "6h", "30m", 6.0, "15m"),  # 5% in six hours
    BurnRateWindow("warning", "1d", "2h", 3.0, "1h"),     # 10% in a day
    BurnRateWindow("warning", "3d", "6h", 1.0, "3h"),     # 10% in three days
)


@dataclass(frozen=True)
class ModelAlertThresholds:
    """When the model alerts fire. Defaults are production values."""

    down_for: Duration = "3m"
    """No ready replica for this long pages (the startup probe allows slow model loads)."""
    burn_rate_windows: tuple[BurnRateWindow, ...] = DEFAULT_BURN_RATE_WINDOWS
    latency_window: Duration = "5m"
    latency_for: Duration = "10m"
    restarts: PositiveInt = 3
    """Container restarts within `restarts_window` that count as restarting."""
    restarts_window: Duration = "15m"
    target_missing_for: Duration = "5m"


@dataclass(frozen=True)
class GpuAlertThresholds:
    """When the GPU alerts fire. Defaults are production values."""

    saturated_percent: Annotated[float, between(0, 100)] = 95.0
    saturated_window: Duration = "10m"
    saturated_for: Duration = "15m"
    idle_percent: Annotated[float, between(0, 100)] = 5.0
    idle_window: Duration = "1h"
    idle_for: Duration = "2h"
    memory_full_ratio: Annotated[float, between(0, 1)] = 0.95
    memory_for: Duration = "10m"
    temperature_celsius: Annotated[float, between(1, 150)] = 85.0
    temperature_for: Duration = "10m"
    xid_window: Duration = "10m"
    xid_step: Duration = "1m"
    exporter_missing_for: Duration = "10m"


@dataclass(frozen=True)
class ModelTarget:
    """Which series belong to one model: its metric label and its scrape target labels."""

    model: str
    """The `model` label the server puts on its metrics (MODEL_NAME) and the container name."""
    namespace: str
    job: str
    """`job` of the model's targets (the ServiceMonitor takes it from the Service's name label)."""
    extra_matchers: dict[str, str] = field(default_factory=dict)
    team: str | None = None
    """The owning team: a `team` label on every alert, which Alertmanager routes on."""

    def target_selector(self) -> str:
        """Matchers of the scrape targets (`up` and every series scraped from the model)."""
        labels = {"namespace": self.namespace, "job": self.job, **self.extra_matchers}
        return ", ".join(f'{k}="{v}"' for k, v in labels.items())

    def metric_selector(self, **more: str) -> str:
        """Matchers of the server's own series, with optional extra `label="value"` or `label=~"re"`."""
        parts = [self.target_selector(), f'model="{self.model}"']
        parts += [f"{k}={v}" for k, v in more.items()]
        return "{" + ", ".join(parts) + "}"


@dataclass(frozen=True)
class ScaleToZeroSignals:
    """What tells a model asleep on purpose (zero replicas, nothing waiting) from a model that is down."""

    deployment: DnsLabel
    """The model's Deployment (kube-state-metrics `deployment` label): its desired replicas say awake or asleep."""
    route_name: DnsSubdomain
    """The model's InterceptorRoute (`route_name` of the KEDA HTTP interceptor's metrics): requests held for it."""
    wake_up_for: Duration = "12m"
    """A wake-up may take this long (the longest hold plus a margin) before no ready replica pages."""
    holder_namespace: DnsLabel = "keda"
    """Namespace of the interceptors (for the dashboard)."""

    def should_be_awake(self, namespace: str) -> str:
        """Non-empty while something wants the model up: desired replicas above zero, or requests held for it."""
        return (f'(sum(kube_deployment_spec_replicas{{namespace="{namespace}", deployment="{self.deployment}"}}) > 0\n'
                f'or on() sum(interceptor_request_concurrency{{route_namespace="{namespace}", '
                f'route_name="{self.route_name}"}}) > 0)')


def _number(value: float) -> str:
    return f"{value:.6g}"


def runbook_annotation(runbook_url: str | None, alert: str) -> dict[str, str]:
    """`runbook_url: <base>#<alert in lower case>`, or nothing when no runbook base URL is configured."""
    return {"runbook_url": f"{runbook_url}#{alert.lower()}"} if runbook_url else {}


def _alert(name: str, expr: str, for_: str, severity: Severity, labels: dict[str, str], summary: str,
           description: str, runbook_url: str | None) -> dict:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity, **labels},
        "annotations": {"summary": summary, "description": description, **runbook_annotation(runbook_url, name)},
    }


def error_ratio_record(window: str) -> str:
    """Name of the recorded 5xx share of inference requests over `window`."""
    return f"model:inference_request_errors:ratio_rate{window}"


def _error_ratio_recordings(target: ModelTarget, windows: list[str]) -> list[dict]:
    by = "namespace, job, model"
    errors = target.metric_selector(route=f'~"{INFER_ROUTES}"', status='~"5.."')
    total = target.metric_selector(route=f'~"{INFER_ROUTES}"')
    return [{
        "record": error_ratio_record(window),
        "expr": (f"sum by ({by}) (rate(inference_requests_total{errors}[{window}]))\n"
                 f"/\nsum by ({by}) (rate(inference_requests_total{total}[{window}]))"),
    } for window in windows]


def model_rule_groups(target: ModelTarget, availability: float, latency_p99_seconds: float,
                      thresholds: ModelAlertThresholds | None = None,
                      runbook_url: str | None = None, scale_to_zero: ScaleToZeroSignals | None = None) -> list[dict]:
    """Recording rules and alerts of one model, every identity carrying the model's name (and its team).

    With `scale_to_zero`, ModelDown and ModelScrapeTargetMissing hold their fire while the model is
    asleep on purpose (no replica wanted, no request held) and give a wake-up `wake_up_for` to finish.
    """
    t = thresholds or ModelAlertThresholds()
    m = target.model
    labels = {"service": m, "namespace": target.namespace, **({"team": target.team} if target.team else {})}
    budget = 1.0 - availability
    windows = sorted({w for b in t.burn_rate_windows for w in (b.long_window, b.short_window)})
    ready = target.metric_selector()
    down = f"(count(inference_model_info{ready}) or vector(0)) == 0"
    missing = f"up{{{target.target_selector()}}} == 0\nor\nabsent(up{{{target.target_selector()}}})"
    down_for, missing_for = t.down_for, t.target_missing_for
    if scale_to_zero is not None:
        awake = scale_to_zero.should_be_awake(target.namespace)
        down = f"{down}\nand on()\n{awake}"
        missing = f"up{{{target.target_selector()}}} == 0\nor\n(absent(up{{{target.target_selector()}}})\nand on()\n{awake})"
        down_for = missing_for = scale_to_zero.wake_up_for
    alerts = [
        _alert("ModelDown", down, down_for,
               "critical", labels, f"{m} has no ready replica",
               f"No replica of {m} in {target.namespace} has served metrics with a loaded model for "
               f"{down_for}: every inference request fails.", runbook_url),
    ]
    for b in t.burn_rate_windows:
        threshold = _number(b.burn_rate * budget)
        series = f'{{namespace="{target.namespace}", job="{target.job}", model="{m}"}}'
        alerts.append(_alert(
            "ModelErrorBudgetBurn",
            f"{error_ratio_record(b.long_window)}{series} > {threshold}\n"
            f"and\n{error_ratio_record(b.short_window)}{series} > {threshold}",
            b.for_, b.severity, {**labels, "window": b.long_window},
            f"{m} burns its error budget {_number(b.burn_rate)}x too fast",
            f"{{{{ $value | humanizePercentage }}}} of {m}'s inference requests failed with 5xx over the last "
            f"{b.long_window} (and still over {b.short_window}); the objective allows "
            f"{_number(budget * 100)}%.", runbook_url))
    latency = target.metric_selector(route=f'~"{INFER_ROUTES}"')
    alerts += [
        _alert("ModelLatencyP99AboveSlo",
               f"histogram_quantile(0.99, sum by (namespace, job, model, le) "
               f"(rate(inference_request_duration_seconds_bucket{latency}[{t.latency_window}])))\n"
               f"> {_number(latency_p99_seconds)}",
               t.latency_for, "warning", labels, f"{m} p99 latency is above its objective",
               f"p99 inference latency of {m} is {{{{ $value | humanizeDuration }}}}, above the "
               f"{_number(latency_p99_seconds)} s objective, for {t.latency_for}.", runbook_url),
        _alert("ModelPodsRestarting",
               f'increase(kube_pod_container_status_restarts_total{{namespace="{target.namespace}", '
               f'container="{m}"}}[{t.restarts_window}]) >= {t.restarts}',
               "0m", "warning", labels, f"{m} containers keep restarting",
               f"Pod {{{{ $labels.pod }}}} restarted {{{{ $value | printf \"%.0f\" }}}} times in "
               f"{t.restarts_window}.", runbook_url),
        _alert("ModelScrapeTargetMissing", missing, missing_for, "warning", labels, f"Prometheus cannot scrape {m}",
               f"A target of {m} ({{{{ $labels.instance }}}}) is down or no target is discovered at all "
               f"(job {target.job} in {target.namespace}): its alerts and dashboards are blind.", runbook_url),
    ]
    return [
        {"name": f"{m}.slo-recordings", "rules": _error_ratio_recordings(target, windows)},
        {"name": f"{m}.alerts", "rules": alerts},
    ]


def gpu_rule_groups(thresholds: GpuAlertThresholds | None = None, dcgm_job: str = DCGM_JOB,
                    runbook_url: str | None = None) -> list[dict]:
    """Alerts on every GPU the DCGM exporter reports (one instance per cluster)."""
    t = thresholds or GpuAlertThresholds()
    labels = {"service": "gpu"}
    job = f'{{job="{dcgm_job}"}}'
    where = "GPU {{ $labels.gpu }} on {{ $labels.node }}"
    # The exporter labels XID series with err_code = the value itself, and the value sticks until
    # the exporter restarts (NVIDIA/dcgm-exporter#500): aggregate the label away and alert on a change.
    xid = f"max without (err_code, err_msg) (DCGM_FI_DEV_XID_ERRORS{job})"
    alerts = [
        _alert("GpuUtilizationSaturated",
               f"avg_over_time(DCGM_FI_DEV_GPU_UTIL{job}[{t.saturated_window}]) > {_number(t.saturated_percent)}",
               t.saturated_for, "warning", labels, "GPU saturated",
               f"{where} has been over {_number(t.saturated_percent)}% busy for {t.saturated_for}: "
               "requests queue up; add replicas or nodes.", runbook_url),
        _alert("GpuIdle",
               f"avg_over_time(DCGM_FI_DEV_GPU_UTIL{job}[{t.idle_window}]) < {_number(t.idle_percent)}",
               t.idle_for, "warning", labels, "GPU idle: paying for nothing",
               f"{where} averaged under {_number(t.idle_percent)}% utilisation for {t.idle_window}, "
               f"sustained for {t.idle_for}: scale the node group down.", runbook_url),
        _alert("GpuMemoryNearFull",
               f"DCGM_FI_DEV_FB_USED{job}\n/\n(DCGM_FI_DEV_FB_USED{job} + DCGM_FI_DEV_FB_FREE{job})\n"
               f"> {_number(t.memory_full_ratio)}",
               t.memory_for, "warning", labels, "GPU memory nearly full",
               f"{where} uses {{{{ $value | humanizePercentage }}}} of its framebuffer: the next larger "
               "batch or model may fail with out-of-memory.", runbook_url),
        _alert("GpuXidError",
               f"{xid} > 0\nand\nchanges({xid}[{t.xid_window}:{t.xid_step}]) > 0",
               "0m", "warning", labels, "GPU reported an XID error",
               f"{where} reported XID {{{{ $value }}}} in the last {t.xid_window}.", runbook_url),
        _alert("GpuTemperatureHigh",
               f"DCGM_FI_DEV_GPU_TEMP{job} > {_number(t.temperature_celsius)}",
               t.temperature_for, "warning", labels, "GPU running hot",
               f"{where} is at {{{{ $value }}}} °C (threshold {_number(t.temperature_celsius)} °C): it will "
               "throttle its clocks.", runbook_url),
        _alert("GpuMetricsMissing",
               'count(kube_node_status_capacity{resource="nvidia_com_gpu"} > 0)\n>\n'
               f"(count(up{job} == 1) or vector(0))",
               t.exporter_missing_for, "warning", labels, "GPU nodes without GPU metrics",
               "{{ $value }} GPU node(s) advertise nvidia.com/gpu but fewer DCGM exporter targets are up: "
               "the GPU alerts and dashboards are blind there.", runbook_url),
    ]
    return [{"name": "gpu.alerts", "rules": alerts}]


def alert_names(groups: list[dict]) -> list[str]:
    """Alert names in rule groups, in order, without repeats."""
    names: list[str] = []
    for group in groups:
        for rule in group["rules"]:
            if "alert" in rule and rule["alert"] not in names:
                names.append(rule["alert"])
    return names
