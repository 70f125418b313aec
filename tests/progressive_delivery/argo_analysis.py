"""What the Argo Rollouts controller does with an AnalysisTemplate's Prometheus metrics, for the 127.0.0.1 tests.

The controller cannot run here (no Kubernetes API server), so this module reproduces, step by step, the
parts of Argo Rollouts v1.9.0 that decide a canary step from the metrics, read from argoproj/argo-rollouts
at tag v1.9.0 (nothing is copied; each function names the Go code it follows):

- args: `{{args.<name>}}` in the query is replaced by the arg's value before the query is sent
  (utils/analysis/helpers.go ResolveArgs, fasttemplate with `{{` `}}` tags); an unresolved arg is an error.
- provider: metricproviders/prometheus/prometheus.go sends the query to `<address>/api/v1/query` at the
  current time and hands a vector to the conditions as `result`, a list of floats (empty when the query
  returns nothing), a scalar as one float.
- conditions: utils/evaluate/evaluate.go compiles them with expr (antonmedv/expr) with `result`, `isNaN`,
  `isInf`...; success true = Successful, failure true = Failed, neither = Inconclusive, an evaluation
  error = Error. The conditions the project writes use `len`, `result[0]`, comparisons, `&&`, `||` and
  `isNaN`: they are evaluated here with the same meaning (short-circuit `&&`/`||` as in expr), and any other
  token is refused so a condition this module cannot read faithfully fails the test instead of passing.
- a metric: analysis/analysis.go assessMetricStatus / assessMetricFailureInconclusiveOrError: failed >
  failureLimit = Failed, inconclusive > inconclusiveLimit = Inconclusive, consecutive errors > 4 = Error,
  `count` measurements reached = Successful.
- the run: analysis/analysis.go assessRunStatus: the worst completed metric (order Successful < Inconclusive <
  Error < Failed, utils/analysis/helpers.go analysisStatusOrder); one metric Failed, Error or Inconclusive
  ends the run (IsTerminating).
- the rollout: rollout/analysis.go: an Inconclusive step analysis pauses the rollout, Failed or Error aborts it.
"""

from __future__ import annotations

import json
import math
import re
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

SUCCESSFUL, FAILED, INCONCLUSIVE, ERROR = "Successful", "Failed", "Inconclusive", "Error"
_ORDER = [SUCCESSFUL, INCONCLUSIVE, ERROR, FAILED]
DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4  # utils/defaults/defaults.go DefaultConsecutiveErrorLimit
_ARG = re.compile(r"\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}")
_CONDITION_TOKENS = re.compile(r"\s*(len|result|isNaN|\d+(\.\d+)?(e-?\d+)?|&&|\|\||==|!=|<=|>=|<|>|\(|\)|\[|\])")


def resolve_args(text: str, args: dict[str, str]) -> str:
    """The query with every `{{args.x}}` replaced; an arg the run does not have is an error, as in Argo."""
    def value(match: re.Match) -> str:
        if match.group(1) not in args:
            raise KeyError(f"failed to resolve {{{{args.{match.group(1)}}}}}")
        return args[match.group(1)]

    resolved = _ARG.sub(value, text)
    assert "{{" not in resolved, f"unresolved template in {resolved!r}"
    return resolved


def prometheus_result(address: str, query: str, timeout: float = 10.0) -> list[float] | float:
    """The query's value at the current time as the provider hands it to the conditions."""
    url = f"{address.rstrip('/')}/api/v1/query?" + urllib.parse.urlencode({"query": query, "time": f"{time.time():.3f}"})
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (127.0.0.1 only)
        body = json.loads(response.read())
    assert body["status"] == "success", body
    data = body["data"]
    if data["resultType"] == "scalar":
        return float(data["result"][1])
    if data["resultType"] == "vector":
        return [float(sample["value"][1]) for sample in data["result"]]
    raise AssertionError(f"Prometheus metric type not supported: {data['resultType']}")


def evaluate_condition(condition: str, result: list[float] | float) -> bool:
    """An expr condition of the subset the project uses, with `result` bound as Argo binds it."""
    position, python = 0, []
    while position < len(condition):
        match = _CONDITION_TOKENS.match(condition, position)
        if match is None or match.end() == position:
            raise AssertionError(f"token at {condition[position:]!r} is outside the evaluated subset of expr")
        token = match.group(1)
        python.append({"&&": " and ", "||": " or "}.get(token, token))
        position = match.end()
    value = eval("".join(python), {"__builtins__": {}}, {"len": len, "isNaN": math.isnan, "result": result})  # noqa: S307
    if not isinstance(value, bool):
        raise TypeError(f"condition {condition!r} evaluated to {value!r}, not a bool")
    return value


def measure(metric: dict, args: dict[str, str]) -> tuple[str, object]:
    """One measurement: (phase, value) the way the Prometheus provider and evaluate.EvaluateResult give them."""
    prometheus = metric["provider"]["prometheus"]
    try:
        result = prometheus_result(prometheus["address"], resolve_args(prometheus["query"], args))
    except (OSError, KeyError, AssertionError) as exc:
        return ERROR, str(exc)
    success_expr, failure_expr = metric.get("successCondition", ""), metric.get("failureCondition", "")
    try:
        success = evaluate_condition(success_expr, result) if success_expr else False
        failure = evaluate_condition(failure_expr, result) if failure_expr else False
    except (IndexError, TypeError, ValueError) as exc:
        return ERROR, f"{exc} (result {result!r})"
    if not success_expr and not failure_expr:
        return SUCCESSFUL, result
    if success_expr and not failure_expr:
        failure = not success
    elif failure_expr and not success_expr:
        success = not failure
    if failure:
        return FAILED, result
    return (SUCCESSFUL if success else INCONCLUSIVE), result


@dataclass
class MetricResult:
    """A metric's measurements in one run and the phase `assessMetricStatus` gives them."""

    metric: dict
    measurements: list[tuple[str, object]] = field(default_factory=list)

    def count(self, phase: str) -> int:
        return sum(1 for p, _ in self.measurements if p == phase)

    def consecutive_errors(self) -> int:
        n = 0
        for phase, _ in reversed(self.measurements):
            if phase != ERROR:
                break
            n += 1
        return n

    def phase(self, terminating: bool = False) -> str | None:
        """Failed / Inconclusive / Error by the limits, Successful at `count`; None while still running."""
        m = self.metric
        phase = None
        failure_limit = int(m.get("failureLimit", 0))
        if failure_limit >= 0 and self.count(FAILED) > failure_limit:
            phase = FAILED
        if self.count(INCONCLUSIVE) > int(m.get("inconclusiveLimit", 0)):
            phase = INCONCLUSIVE
        if self.consecutive_errors() > int(m.get("consecutiveErrorLimit", DEFAULT_CONSECUTIVE_ERROR_LIMIT)):
            phase = ERROR
        if phase is not None:
            return phase
        if "count" in m and len(self.measurements) >= int(m["count"]):
            return SUCCESSFUL
        return SUCCESSFUL if terminating and self.measurements else None


def run_analysis(metrics: list[dict], args: dict[str, str]) -> tuple[str, dict[str, MetricResult]]:
    """An AnalysisRun of `metrics` (all with the same `interval`, `initialDelay` and `count`, as the project's):
    waits `initialDelay`, measures every `interval`, stops at the first completed Failed, Error or Inconclusive
    metric or when every metric reached `count`. Returns the run's phase and each metric's result."""
    results = {m["name"]: MetricResult(m) for m in metrics}
    intervals = {_seconds(m["interval"]) for m in metrics}
    delays = {_seconds(m.get("initialDelay", "0s")) for m in metrics}
    assert len(intervals) == 1 and len(delays) == 1, "the project's metrics share one interval and initialDelay"
    time.sleep(delays.pop())
    interval = intervals.pop()
    while True:
        for result in results.values():
            if result.phase() is None:
                result.measurements.append(measure(result.metric, args))
        completed = {name: r.phase() for name, r in results.items() if r.phase() is not None}
        terminating = any(p in (FAILED, ERROR, INCONCLUSIVE) for p in completed.values())
        if terminating or len(completed) == len(results):
            phases = [r.phase(terminating=terminating) or SUCCESSFUL for r in results.values()]
            return max(phases, key=_ORDER.index), results
        time.sleep(interval)


def rollout_decision(run_phase: str) -> str:
    """What the Rollout does with a step's analysis run (rollout/analysis.go)."""
    return {SUCCESSFUL: "promote", INCONCLUSIVE: "pause", FAILED: "abort", ERROR: "abort"}[run_phase]


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    number, unit = re.fullmatch(r"([0-9]+)(ms|s|m|h)", duration).groups()
    return int(number) * units[unit]


def walk_steps(steps: list[dict], templates: dict[str, dict], args: dict[str, str]) -> tuple[str, list[str]]:
    """A canary's steps as the controller takes them (rollout/canary.go): `setWeight` moves the split, an `analysis`
    step runs its templates' metrics and must be Successful to go on, a timed `pause` waits (not waited here: it
    only delays), an untimed one waits for `promote`. Returns the outcome (`promoted` = 100% after the last step,
    `paused`, or `aborted`) and what happened at each step."""
    log: list[str] = []
    for step in steps:
        if "setWeight" in step:
            log.append(f"setWeight {step['setWeight']}")
        elif "analysis" in step:
            metrics = [m for t in step["analysis"]["templates"] for m in templates[t["templateName"]]["metrics"]]
            phase, _ = run_analysis(metrics, args)
            log.append(f"analysis {phase}")
            if phase != SUCCESSFUL:
                return {"pause": "paused", "abort": "aborted"}[rollout_decision(phase)], log
        elif "pause" in step:
            if "duration" not in step["pause"]:
                log.append("pause until promote")
                return "paused", log
            log.append(f"pause {step['pause']['duration']}")
    log.append("setWeight 100")
    return "promoted", log
