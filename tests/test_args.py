"""The one args model every component shares (components/_args.py): runtime types, constraints, rules,
every problem at once, Output fields checked once they resolve, secrets never repeated."""

from __future__ import annotations

import dataclasses
import inspect

import pulumi
import pytest

import components
from components import ModelService, ModelServiceArgs
from components._args import InvalidArgs, _adapter, checked_args, problems_of, quantity_value
from components.observability.monitoring_stack import MonitoringStackArgs
from components.serving.model_service import ContainerResources
from tests.harness import components as run_components

DIGEST = "registry.example/m@sha256:" + "0" * 64
ARGS_CLASSES = sorted((obj for name, obj in vars(components).items()
                       if name in components.__all__ and isinstance(obj, type) and dataclasses.is_dataclass(obj)),
                      key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", ARGS_CLASSES, ids=lambda c: c.__name__)
def test_every_args_class_of_the_package_can_be_checked_and_its_defaults_pass(cls):
    # Every annotation translates into a runtime check (an unknown one would raise TypeError here).
    assert _adapter(cls).core_schema, cls.__name__
    required = [f for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if not required:
        assert problems_of(cls()) == [], cls.__name__


def test_every_component_checks_its_args_before_registering_itself():
    for name in components.__all__:
        cls = getattr(components, name)
        if not (inspect.isclass(cls) and issubclass(cls, pulumi.ComponentResource)):
            continue
        source = inspect.getsource(cls.__init__)
        assert "checked_args(" in source, f"{name} does not check its args"
        assert source.index("checked_args(") < source.index("super().__init__("), \
            f"{name} registers itself before checking its args"


def test_wrong_types_are_named_not_coerced_and_not_split():
    problems = problems_of(ModelServiceArgs(image=DIGEST, gpus="1", replicas=2.0, allowed_namespaces="gateway",
                                            env={"WORKERS": 4}, zone_spread="require"))
    assert problems == [
        "replicas: got 2.0 (float); must be a valid integer",
        "gpus: got '1' (str); must be a valid integer",
        "env.WORKERS: got 4 (int); must be a valid string",
        "zone_spread: got 'require'; must be 'required' or 'preferred'",
        "allowed_namespaces: got 'gateway' (str); must be a valid list",
    ]


def test_nested_args_are_checked_field_by_field_and_a_dict_is_not_one():
    assert problems_of(ModelServiceArgs(image=DIGEST, resources={"cpu_request": "1"})) == [
        "resources: got {'cpu_request': '1'} (dict); must be a ContainerResources (not a dict)"]
    assert problems_of(ModelServiceArgs(image=DIGEST, resources=ContainerResources(cpu_request="two"))) == [
        "resources.cpu_request: got 'two'; must be a positive Kubernetes quantity such as 500m, 2 or 4Gi "
        "(suffixes m, k, M, G, T, Ki, Mi, Gi, Ti)"]


def test_rules_between_fields_run_once_the_types_are_right():
    args = ModelServiceArgs(image=DIGEST, resources=ContainerResources(memory_request="4Gi", memory_limit="4000Mi"))
    assert problems_of(args) == [
        "resources.memory_limit: got '4000Mi'; must be >= memory_request (4Gi); Kubernetes refuses a limit below its "
        "request"]
    # A wrong type holds the rules back: they would only repeat it, or fail on it.
    assert problems_of(ModelServiceArgs(image=DIGEST, gpus="1", gpu_scheduling=None)) == [
        "gpus: got '1' (str); must be a valid integer"]


def test_every_problem_is_listed_at_once_in_field_order_after_the_component_and_instance():
    args = ModelServiceArgs(image="r/m:latest", name="Bad", gpus=-1, zone_spread="both")
    with pytest.raises(InvalidArgs) as caught:
        checked_args("ModelService", "fraud", args, ModelServiceArgs)
    assert [p.split(":")[0] for p in caught.value.problems] == ["image", "name", "gpus", "zone_spread"]
    assert str(caught.value).startswith("ModelService 'fraud': image: got 'r/m:latest'; must be pinned by digest")


def test_args_of_another_class_are_refused_by_name():
    with pytest.raises(InvalidArgs, match=r"ModelService 'm': args: got dict; must be a ModelServiceArgs"):
        checked_args("ModelService", "m", {"image": DIGEST}, ModelServiceArgs)


def test_a_secret_value_is_never_repeated_in_an_error():
    problems = problems_of(MonitoringStackArgs(grafana_admin_password="hunter2"))
    assert problems == ["grafana_admin_password: got [secret] (str); must be at least 8 characters"]
    with pytest.raises(InvalidArgs) as caught:
        run_components(lambda opts: ModelService("m", ModelServiceArgs(image=DIGEST, secret_env={"TOKEN": 12345}),
                                                 opts))
    assert "12345" not in str(caught.value) and "secret_env.TOKEN: got [secret] (int)" in str(caught.value)


def test_an_output_is_checked_when_it_resolves_with_the_same_prefix():
    with pytest.raises(Exception, match=r"ModelService 'm': image: got 'r/m:v1'; must be pinned by digest") as caught:
        run_components(lambda opts: ModelService("m", ModelServiceArgs(image=pulumi.Output.from_input("r/m:v1")), opts))
    # Pulumi wraps it in the resources it was resolving for; the cause is the component's own error.
    # Causes and contexts, each once: the chain can loop back (one error raised again for every resource that
    # waited on the check).
    causes: list[BaseException] = []
    waiting: list[BaseException | None] = [caught.value]
    while waiting:
        error = waiting.pop()
        if error is not None and not any(error is seen for seen in causes):
            causes.append(error)
            waiting += [error.__cause__, error.__context__]
    [ours] = [e for e in causes if isinstance(e, InvalidArgs)]
    assert str(ours) == "ModelService 'm': image: got 'r/m:v1'; must be pinned by digest (repo@sha256:<64 hex>)"


def test_a_good_output_passes_through_and_keeps_its_secrecy():
    synthesis = run_components(lambda opts: ModelService(
        "m", ModelServiceArgs(image=pulumi.Output.secret(DIGEST)), opts))
    [deployment] = synthesis.of_type("kubernetes:apps/v1:Deployment")
    assert deployment.inputs["spec"]["template"]["spec"]["containers"][0]["image"] == DIGEST
    assert deployment.masked_inputs["spec"] == "[secret]" or DIGEST not in str(deployment.masked_inputs)


@pytest.mark.parametrize(("quantity", "value"), [("500m", 0.5), ("2", 2), ("4Gi", 4 * 2**30), ("1.5G", 1.5e9),
                                                 ("two", None), ("", None), ("-1", None)])
def test_quantities_are_read_as_kubernetes_reads_them(quantity, value):
    assert (quantity_value(quantity) == value) if value is not None else quantity_value(quantity) is None
