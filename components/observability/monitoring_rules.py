"""Prometheus alerting and recording rules for a model and for the GPUs, as data.

Every builder returns rule groups in the rule-file shape (`{"name": ..., "rules": [...]}`), which is
also the `spec.groups` of a PrometheusRule, so the same data is deployed and checked by
`promtool`. Thresholds and `for:` durations live in frozen dataclasses whose defaults are the
production values; a test passes short ones without touching production.

Metric names are the inference server's contract (app/README.md), the DCGM exporter's default
counters (etc/default-counters.csv of dcgm-exporter 4.5.3-4.8.2), kube-state-metrics 2.20 and node-exporter's
filesystem collector (collector/filesystem_common.go: `node_filesystem_{avail,size}_bytes` by device, mountpoint,
fstype).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from .._args import DnsLabel, DnsSubdomain, Duration, PositiveInt, PositiveNumber, between
from ..serving import server_contract
from ..serving.runtimes import MODEL_SERVER, Distribution, RuntimeSignals, Series

Severity = Literal["critical", "warning", "info"]

RUNBOOKS_URL = "docs/runbooks.md"
"""This repository's runbooks (its own stacks point their alerts here through `monitoring.runbookBaseUrl`).
The components default to no `runbook_url` at all: pass the URL of your own rendered copy."""

INFER_ROUTES = server_contract.INFER_ROUTES
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
    disk_free_ratio: Annotated[float, between(0, 1)] = 0.10
    """A node filesystem with less than this share free warns (images and model weights fill GPU nodes' disks)."""
    disk_full_for: Duration = "15m"
    disk_pressure_for: Duration = "5m"
    """The kubelet's DiskPressure condition this long warns: it is evicting pods and refusing new ones."""


@dataclass(frozen=True)
class TokenLatencyObjectives:
    """An LLM server's latency objectives, per token rather than per request (whose length the caller decides)."""

    time_to_first_token_p99_seconds: PositiveNumber | None = None
    """p99 time from the request to its first generated token (prefill and queueing)."""
    inter_token_latency_p99_seconds: PositiveNumber | None = None
    """p99 time between two generated tokens of one request (decoding speed)."""

    def checks(self, signals: RuntimeSignals) -> list[tuple[str, str, Distribution, float]]:
        """(alert, what, distribution, objective) of each objective set; the runtime must expose the distribution."""
        wanted = [("ModelTimeToFirstTokenP99AboveSlo", "time to first token", signals.time_to_first_token,
                   self.time_to_first_token_p99_seconds),
                  ("ModelInterTokenLatencyP99AboveSlo", "inter-token latency", signals.inter_token_latency,
                   self.inter_token_latency_p99_seconds)]
        checks = []
        for alert, what, distribution, objective in wanted:
            if objective is None:
                continue
            if distribution is None:
                raise ValueError(f"an objective on {what} needs a runtime exposing it")
            checks.append((alert, what, distribution, objective))
        return checks


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
    signals: RuntimeSignals = MODEL_SERVER.signals
    """How the model's server names its requests, errors, latency...: its runtime's (`ServingRuntime.signals`)."""

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


@dataclass(frozen=True)
class RolloutSignals:
    """What tells a model's progressive rollout state: the Argo Rollouts controller's `rollout_info` (v1.9.0,
    controller/metrics/prommetrics.go: labels namespace, name, strategy, traffic_router, phase)."""

    rollout: DnsLabel
    """The model's Rollout (the `name` label of `rollout_info`)."""
    paused_for: Duration = "4h"
    """A rollout paused this long (waiting for a person's promote, or after an inconclusive analysis) warns."""
    stuck_for: Duration = "10m"
    """A rollout in Error, Timeout or InvalidSpec this long warns."""
    metrics_missing_for: Duration = "15m"
    """No `rollout_info` for the Rollout this long warns: the rollout alerts are blind."""

    def selector(self, namespace: str, **more: str) -> str:
        """Matchers of the Rollout's `rollout_info` series, with optional extra `label="value"` or `label=~"re"`."""
        parts = [f'namespace="{namespace}"', f'name="{self.rollout}"', *(f"{k}={v}" for k, v in more.items())]
        return "{" + ", ".join(parts) + "}"


def _number(value: float) -> str:
    return f"{value:.6g}"


def runbook_annotation(runbook_url: str | None, alert: str) -> dict[str, str]:
    """`runbook_url: <base>#<alert in lower case>`, or nothing when no runbook base URL is configured."""
    return {"runbook_url": f"{runbook_url}#{alert.lower()}"} if runbook_url else {}


def _alert(name: str, expr: str, for_: str, severity: Severity, labels: dict[str, str], summary: str,
           description: str, runbook_url: str | None) -> dict[str, Any]:
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


def model_by(target: ModelTarget) -> str:
    """Labels the recorded error ratios keep: the target's, and the model's when the request series carry it."""
    label = target.signals.requests[0].model_label
    return f"namespace, job, {label}" if label else "namespace, job"


def series_selector(target: ModelTarget, series: Series, **more: str) -> str:
    """Matchers of one signal's series of the model, with optional extra `label="value"` or `label=~"re"`."""
    parts = [target.target_selector()]
    if series.model_label:
        parts.append(f'{series.model_label}="{target.model}"')
    parts += [f"{label}{match}" for label, match in series.matchers]
    parts += [f"{k}={v}" for k, v in more.items()]
    return "{" + ", ".join(parts) + "}"


def _summed(target: ModelTarget, function: str, window: str, by: str, matchers: dict[str, str]) -> str:
    """The request series' `function` (rate, increase) summed (by `by`), added up when the runtime has several."""
    grouping = f" by ({by}) " if by else ""
    parts = [f"sum{grouping}({function}({s.metric}{series_selector(target, s, **matchers)}[{window}]))"
             for s in target.signals.requests]
    return parts[0] if len(parts) == 1 else "(" + " + ".join(parts) + ")"


def error_ratio_expr(target: ModelTarget, window: str, by: str | None = None, **matchers: str) -> str:
    """Failed share of inference requests over `window`: the SLO recordings and the canary analysis both use it.

    `matchers` narrow the series further (`label='"value"'`), e.g. to one ReplicaSet's pods. Without `by` (""), a
    version that never failed a request (so has no error series at all) gets 0, not an empty result.
    """
    by = model_by(target) if by is None else by
    e = target.signals.errors
    errors = f"rate({e.metric}{series_selector(target, e, **matchers)}[{window}])"
    total = _summed(target, "rate", window, by, matchers)
    if not by:
        return f"(sum({errors}) or vector(0))\n/\n{total}"
    return f"sum by ({by}) ({errors})\n/\n{total}"


def quantile_expr(target: ModelTarget, distribution: Distribution, window: str, quantile: float = 0.99,
                  by: str | None = None, **matchers: str) -> str:
    """`quantile` of one of the model's distributions over `window`, in seconds (a summary's own window instead)."""
    series = distribution.series
    if by is None:
        by = f"namespace, job, {series.model_label}" if series.model_label else "namespace, job"
    if distribution.kind == "summary":
        selector = series_selector(target, series, quantile=f'"{_number(quantile)}"', **matchers)
        value = f"max{f' by ({by})' if by else ''} ({series.metric}{selector})"
    else:
        selector = series_selector(target, series, **matchers)
        value = (f"histogram_quantile({_number(quantile)}, sum by ({by + ', ' if by else ''}le) "
                 f"(rate({series.metric}_bucket{selector}[{window}])))")
    return value if distribution.to_seconds == 1 else f"{value} * {_number(distribution.to_seconds)}"


def latency_quantile_expr(target: ModelTarget, window: str, quantile: float = 0.99, by: str | None = None,
                          **matchers: str) -> str:
    """Inference latency `quantile` over `window`: the latency alert and the canary analysis both use it."""
    if target.signals.latency is None:
        raise ValueError(f"the runtime of {target.model} exposes no request latency")
    return quantile_expr(target, target.signals.latency, window, quantile, by, **matchers)


def request_count_expr(target: ModelTarget, window: str, **matchers: str) -> str:
    """Inference requests answered (any status) over `window`, 0 when there were none."""
    return f"{_summed(target, 'increase', window, '', matchers)} or vector(0)"


def _error_ratio_recordings(target: ModelTarget, windows: list[str]) -> list[dict[str, Any]]:
    return [{"record": error_ratio_record(window), "expr": error_ratio_expr(target, window)} for window in windows]


def model_rule_groups(target: ModelTarget, availability: float, latency_p99_seconds: float,
                      thresholds: ModelAlertThresholds | None = None,
                      runbook_url: str | None = None,
                      scale_to_zero: ScaleToZeroSignals | None = None,
                      tokens: TokenLatencyObjectives | None = None) -> list[dict[str, Any]]:
    """Recording rules and alerts of one model, every identity carrying the model's name (and its team).

    With `tokens` (an LLM server), p99 time to first token and inter-token latency alert above their objectives.

    With `scale_to_zero`, ModelDown and ModelScrapeTargetMissing hold their fire while the model is
    asleep on purpose (no replica wanted, no request held) and give a wake-up `wake_up_for` to finish.
    """
    t = thresholds or ModelAlertThresholds()
    m = target.model
    labels = {"service": m, "namespace": target.namespace, **({"team": target.team} if target.team else {})}
    budget = 1.0 - availability
    windows = sorted({w for b in t.burn_rate_windows for w in (b.long_window, b.short_window)})
    ready = target.signals.ready
    # Without a per-replica series of its own, a runtime's replicas count as ready while they are scraped.
    replicas = (f"{ready.metric}{series_selector(target, ready)}" if ready is not None
                else f"up{{{target.target_selector()}}} == 1")
    down = f"(count({replicas}) or vector(0)) == 0"
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
        series = _recorded_selector(target)
        alerts.append(_alert(
            "ModelErrorBudgetBurn",
            f"{error_ratio_record(b.long_window)}{series} > {threshold}\n"
            f"and\n{error_ratio_record(b.short_window)}{series} > {threshold}",
            b.for_, b.severity, {**labels, "window": b.long_window},
            f"{m} burns its error budget {_number(b.burn_rate)}x too fast",
            f"{{{{ $value | humanizePercentage }}}} of {m}'s inference requests failed with 5xx over the last "
            f"{b.long_window} (and still over {b.short_window}); the objective allows "
            f"{_number(budget * 100)}%.", runbook_url))
    if target.signals.latency is not None:
        alerts.append(_alert(
            "ModelLatencyP99AboveSlo",
            f"{latency_quantile_expr(target, t.latency_window)}\n> {_number(latency_p99_seconds)}",
            t.latency_for, "warning", labels, f"{m} p99 latency is above its objective",
            f"p99 inference latency of {m} is {{{{ $value | humanizeDuration }}}}, above the "
            f"{_number(latency_p99_seconds)} s objective, for {t.latency_for}.", runbook_url))
    alerts += _token_latency_alerts(target, tokens, t, labels, runbook_url) if tokens is not None else []
    alerts += [
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


def _recorded_selector(target: ModelTarget) -> str:
    """Matchers of the model's recorded error ratios (the labels `model_by` keeps)."""
    label = target.signals.requests[0].model_label
    model = f', {label}="{target.model}"' if label else ""
    return f'{{namespace="{target.namespace}", job="{target.job}"{model}}}'


def _token_latency_alerts(target: ModelTarget, tokens: TokenLatencyObjectives, t: ModelAlertThresholds,
                          labels: dict[str, str], runbook_url: str | None) -> list[dict[str, Any]]:
    """p99 time to first token and inter-token latency above their objectives (an LLM's latency SLOs)."""
    m, alerts = target.model, []
    for alert, what, distribution, objective in tokens.checks(target.signals):
        alerts.append(_alert(
            alert, f"{quantile_expr(target, distribution, t.latency_window)}\n> {_number(objective)}",
            t.latency_for, "warning", labels, f"{m} p99 {what} is above its objective",
            f"p99 {what} of {m} is {{{{ $value | humanizeDuration }}}}, above the {_number(objective)} s "
            f"objective, for {t.latency_for}.", runbook_url))
    return alerts


def rollout_rule_groups(target: ModelTarget, signals: RolloutSignals,
                        runbook_url: str | None = None) -> list[dict[str, Any]]:
    """Alerts on the model's Rollout: aborted (the canary failed and was rolled back), paused too long, stuck."""
    m, ns = target.model, target.namespace
    labels = {"service": m, "namespace": ns, **({"team": target.team} if target.team else {})}

    def phase(*phases: str) -> str:
        selector = signals.selector(ns, phase='~"' + "|".join(phases) + '"')
        return f"max by (namespace, name, phase) (rollout_info{selector}) == 1"

    alerts = [
        _alert("ModelRolloutAborted", phase("Abort"), "0m", "warning", labels,
               f"{m}'s new version was aborted and rolled back",
               f"Rollout {signals.rollout} in {ns} aborted (failed canary analysis, progress deadline or a person's "
               "abort): the stable version serves every request again; the new version needs a fix or a retry.",
               runbook_url),
        _alert("ModelRolloutPausedTooLong", phase("Paused"), signals.paused_for, "warning", labels,
               f"{m}'s rollout has waited {signals.paused_for} for a decision",
               f"Rollout {signals.rollout} in {ns} is paused (a manual approval step, or an inconclusive analysis: "
               "too few canary requests to judge): promote or abort it.", runbook_url),
        _alert("ModelRolloutStuck", phase("Error", "Timeout", "InvalidSpec"), signals.stuck_for, "warning", labels,
               f"{m}'s rollout is stuck",
               f"Rollout {signals.rollout} in {ns} is in phase {{{{ $labels.phase }}}}: no version change can "
               "progress until it is fixed.", runbook_url),
        _alert("ModelRolloutMetricsMissing", f"absent(rollout_info{signals.selector(ns)})",
               signals.metrics_missing_for, "warning", labels, f"No rollout state for {m}",
               f"Prometheus has no rollout_info for Rollout {signals.rollout} in {ns}: the Argo Rollouts controller "
               "is down or not scraped, and the rollout alerts are blind.", runbook_url),
    ]
    return [{"name": f"{m}.rollout-alerts", "rules": alerts}]


def gpu_rule_groups(thresholds: GpuAlertThresholds | None = None, dcgm_job: str = DCGM_JOB,
                    runbook_url: str | None = None) -> list[dict[str, Any]]:
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
    return [{"name": "gpu.alerts", "rules": alerts}, node_disk_rule_group(t, runbook_url)]


# Filesystems that are not a node's disk: memory-backed, the container image layers' overlays, snaps.
_NOT_A_DISK = 'fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs"'


def node_disk_rule_group(t: GpuAlertThresholds, runbook_url: str | None = None) -> dict[str, Any]:
    """Disk alerts on every node (node-exporter runs on GPU nodes too, where images and weights fill the disk)."""
    labels = {"service": "node"}
    avail = f"node_filesystem_avail_bytes{{{_NOT_A_DISK}}}"
    size = f"node_filesystem_size_bytes{{{_NOT_A_DISK}}}"
    alerts = [
        _alert("NodeDiskPressure",
               'kube_node_status_condition{condition="DiskPressure", status="true"} == 1',
               t.disk_pressure_for, "warning", labels, "Node under disk pressure",
               "The kubelet on {{ $labels.node }} reports DiskPressure: it evicts pods and admits no new ones "
               "until image garbage collection frees space.", runbook_url),
        _alert("NodeDiskNearlyFull",
               f"{avail}\n/\n{size}\n< {_number(t.disk_free_ratio)}",
               t.disk_full_for, "warning", labels, "Node disk nearly full",
               f"{{{{ $labels.mountpoint }}}} on {{{{ $labels.instance }}}} has {{{{ $value | humanizePercentage }}}} "
               f"free (under {_number(t.disk_free_ratio * 100)}%): the next image pull or model download fails.",
               runbook_url),
    ]
    return {"name": "node-disk.alerts", "rules": alerts}


def alert_names(groups: list[dict[str, Any]]) -> list[str]:
    """Alert names in rule groups, in order, without repeats."""
    names: list[str] = []
    for group in groups:
        for rule in group["rules"]:
            if "alert" in rule and rule["alert"] not in names:
                names.append(rule["alert"])
    return names
