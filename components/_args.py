"""One way to declare and check the args of every component.

Args classes stay plain `@dataclass`es (type checkers and adopters see ordinary typed fields). What
a field accepts is its annotation: the vocabulary below (DnsLabel, Quantity, Port, ...) adds
constraints that type checkers read as the base type. Rules between fields live in the class's
`_rules()` method. A component calls `checked_args(...)` first thing, before `super().__init__` and
before any child, so a bad value never leaves a half-registered component behind:

- every field's runtime type is checked (`gpus="1"` names `gpus`; a dict where `ContainerResources`
  belongs names `resources`; a string where a list belongs is refused, never split into characters),
  then its constraints, then the class's rules, nested args included;
- every problem is listed at once, each as `field.path: got <value>; <what is allowed>`, after the
  component type and instance name: `ModelService 'fraud': gpus: got '1' (str); must be ...`;
- a field holding a `pulumi.Output` cannot be checked before it resolves: it is checked inside an
  apply, and a bad value fails with the same `ModelService 'fraud': image: ...` prefix.

The checks themselves are pydantic's (strict mode, no coercion), run on a TypedDict mirror of the
dataclass built once per class. Why not pydantic dataclasses: they validate while the args object is
built, when the instance name is not known yet, and cannot resolve `pulumi.Input`'s forward
reference to `Output`.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import decimal
import functools
import re
import sys
import types
import typing
from collections.abc import Callable, Iterable, Iterator
from typing import Annotated, Any, ForwardRef, Literal, TypeVar, Union, get_args, get_origin

import pulumi
from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    WrapValidator,
    create_model,
)

A = TypeVar("A")
V = TypeVar("V")
Problem = tuple[str, str]
"""(field path, what is wrong) as a rule yields it; the path is relative to the args object."""


class InvalidArgs(ValueError):
    """A component's args were refused: `problems` lists each one as `field: got ...; allowed ...`."""

    registered_resources: list[Any]
    """Set by `gpu_model_platform.testing.run` on the error a program raised: what it registered before."""

    def __init__(self, component: str, instance: str, problems: list[str]):
        self.component = component
        self.instance = instance
        self.problems = problems
        super().__init__(f"{component} {instance!r}: " + "; ".join(problems))


# ------------------------------------------------------------------------------ constraint vocabulary

class Constraint:
    """A check on a value of the right type, with the words that say what is allowed."""

    def __init__(self, allowed: str, test: Callable[[Any], bool]):
        self.allowed = allowed
        self.test = test

    def validator(self) -> AfterValidator:
        def check(value: Any) -> Any:
            if not self.test(value):
                raise ValueError(self.allowed)  # pydantic reports it as `value_error`: a value of the right type
            return value
        return AfterValidator(check)


def checked_by(problem: Callable[[Any], str | None]) -> AfterValidator:
    """A value `problem` finds nothing wrong with (it returns what is wrong, or None)."""
    def check(value: Any) -> Any:
        found = problem(value)
        if found:
            raise ValueError(found)
        return value
    return AfterValidator(check)


def matches(regex: str, allowed: str) -> AfterValidator:
    """A string matching `regex` entirely; `allowed` says what that means in words."""
    pattern = re.compile(regex)
    return Constraint(allowed, lambda v: bool(pattern.fullmatch(v))).validator()


def between(low: float, high: float) -> AfterValidator:
    """A number from `low` to `high`, both included."""
    return Constraint(f"must be {low:g}..{high:g}", lambda v: low <= v <= high).validator()


def at_least(low: float) -> AfterValidator:
    return Constraint(f"must be >= {low:g}", lambda v: v >= low).validator()


def below(high: float) -> AfterValidator:
    return Constraint(f"must be < {high:g}", lambda v: v < high).validator()


def one_of(values: Iterable[Any], prefix: str = "allowed:") -> AfterValidator:
    """A value from a list known only at run time (a table's keys)."""
    allowed = tuple(values)
    return Constraint(f"{prefix} {', '.join(map(str, allowed))}", lambda v: v in allowed).validator()


def non_empty(allowed: str = "must not be empty") -> AfterValidator:
    return Constraint(allowed, lambda v: len(v) > 0).validator()


_QUANTITY_SUFFIXES: dict[str, int | decimal.Decimal] = {
    "": 1, "m": decimal.Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_QUANTITY_RE = re.compile(r"(?P<number>[0-9]+(\.[0-9]+)?|\.[0-9]+)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?")


def quantity_value(quantity: str) -> decimal.Decimal | None:
    """A Kubernetes quantity (`500m`, `2`, `4Gi`) as a number, None when it is not one."""
    match = _QUANTITY_RE.fullmatch(quantity) if isinstance(quantity, str) else None
    if match is None:
        return None
    return decimal.Decimal(match["number"]) * decimal.Decimal(_QUANTITY_SUFFIXES[match["suffix"] or ""])


DnsLabel = Annotated[str, matches(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?",
                                  "must be a DNS label (RFC 1123: at most 63 lowercase letters, digits or '-', "
                                  "starting and ending with a letter or digit)")]
"""A Kubernetes object or namespace name."""
DnsSubdomain = Annotated[str, matches(r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*",
                                      "must be a DNS subdomain (RFC 1123: at most 253 characters of lowercase "
                                      "letters, digits, '-' and '.')")]
"""A Kubernetes Secret or ConfigMap name."""
Quantity = Annotated[str, Constraint(
    "must be a positive Kubernetes quantity such as 500m, 2 or 4Gi (suffixes m, k, M, G, T, Ki, Mi, Gi, Ti)",
    lambda v: (quantity_value(v) or 0) > 0).validator()]
"""CPU or memory as Kubernetes writes it."""
Port = Annotated[int, between(1, 65535)]
PositiveInt = Annotated[int, at_least(1)]
NonNegativeInt = Annotated[int, at_least(0)]
PositiveNumber = Annotated[float, Constraint("must be > 0", lambda v: v > 0).validator()]
Ratio = Annotated[float, Constraint("must be between 0 and 1 exclusive, e.g. 0.999", lambda v: 0 < v < 1).validator()]
Duration = Annotated[str, matches(r"[0-9]+(ms|s|m|h|d|w|y)", "must be a duration such as 30s, 5m or 15d")]
"""A Prometheus duration."""
ShortDuration = Annotated[str, matches(r"[0-9]+(s|m|h)", "must be a duration such as 90s, 10m or 1h")]
"""A Go-style duration of whole seconds, minutes or hours (controllers' flags)."""
ChartVersion = Annotated[str, matches(r"[0-9]+\.[0-9]+\.[0-9]+", "must be an exact chart version such as 1.2.3 (pin an "
                                                                 "exact version: a range or 'latest' changes what "
                                                                 "installs)")]
EnvName = Annotated[str, matches(r"[A-Za-z_][A-Za-z0-9_]*", "must be an environment variable name "
                                                           "(letters, digits and '_', not starting with a digit)")]
LabelKey = Annotated[str, matches(
    r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?",
    "must be a Kubernetes label key ([prefix/]name, the name at most 63 letters, digits, '-', '_' or '.')")]
LabelValue = Annotated[str, matches(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?",
                                    "must be a Kubernetes label value (at most 63 letters, digits, '-', '_' or '.', "
                                    "starting and ending with a letter or digit)")]
HttpPath = Annotated[str, matches(r"/[^\s?#]*", "must be an absolute HTTP path such as /healthz")]
MetricName = Annotated[str, matches(r"[a-zA-Z_:][a-zA-Z0-9_:]*", "must be a Prometheus metric name")]


SECRET = object()
"""Annotation marker of a secret field: its value is never repeated in a message."""
_SHOWN_AS = "[secret]"


def got(value: Any, allowed: str) -> str:
    """`got <value>; <allowed>`: how every problem reads."""
    return f"got {_show(value)}; {allowed}"


def _show(value: Any) -> str:
    # Long enough for a path or a URL; a huge value (a whole dict of values) is cut.
    text = repr(value)
    return text if len(text) <= 240 else text[:237] + "..."


# ------------------------------------------------------------------------------ annotations -> checks

def _is_output_ref(tp: Any) -> bool:
    """`pulumi.Output[...]`, or the forward reference `pulumi.Input` writes it as."""
    if isinstance(tp, ForwardRef):
        return tp.__forward_arg__.split("[")[0] == "Output"
    return tp is pulumi.Output or get_origin(tp) is pulumi.Output


def _is_awaitable(tp: Any) -> bool:
    return get_origin(tp) is collections.abc.Awaitable or tp is collections.abc.Awaitable


def input_inner(tp: Any) -> Any | None:
    """T when `tp` is `pulumi.Input[T]` (a union holding an Output), else None."""
    if get_origin(tp) not in (Union, types.UnionType):
        return None
    members = get_args(tp)
    if not any(_is_output_ref(m) for m in members):
        return None
    plain = [m for m in members if not _is_output_ref(m) and not _is_awaitable(m) and m is not type(None)]
    if not plain:
        return Any
    return plain[0] if len(plain) == 1 else Union[tuple(plain)]  # noqa: UP007 (built at run time)


def _instance_of(cls: Any, words: str) -> Any:
    def check(value: Any) -> Any:
        if not isinstance(value, cls):
            # pydantic reports an AssertionError as `assertion_error`: a wrong type, which holds back the rules.
            raise AssertionError(f"must be {words}")
        return value
    return Annotated[Any, PlainValidator(check)]


def _outputs_pass(value: Any, handler: Callable[[Any], Any]) -> Any:
    # An Output or awaitable is checked once it resolves (`checked_args` wraps it); anything else now.
    if isinstance(value, (pulumi.Output, collections.abc.Awaitable)):
        return value
    return handler(value)


def _one_message(words: str) -> WrapValidator:
    def validate(value: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise AssertionError(f"must be {words}") from None  # one message, not one per member
    return WrapValidator(validate)


def describe(tp: Any) -> str:
    """An annotation in words, for messages."""
    inner = input_inner(tp)
    if inner is not None:
        return f"{describe(inner)} (or an Output of it)"
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        return describe(args[0])
    if origin in (Union, types.UnionType):
        return " or ".join(describe(a) for a in args if a is not type(None)) + (
            " or None" if type(None) in args else "")
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (list, tuple, collections.abc.Sequence, typing.Sequence):
        return f"a list of {describe(args[0]) if args else 'values'}"
    if origin in (dict, collections.abc.Mapping, typing.Mapping):
        return "a dict"
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    if tp in names:
        return names[tp]
    if _is_output_ref(tp):
        return "an Output"
    return f"a {getattr(tp, '__name__', str(tp))}"


def _pydantic_type(tp: Any) -> Any:
    """The annotation as pydantic can check it: pulumi's types and our dataclasses become instance checks."""
    if tp is Any or isinstance(tp, TypeVar):
        return Any
    inner = input_inner(tp)
    if inner is not None:
        passing: Any = Annotated[_pydantic_type(inner), WrapValidator(_outputs_pass)]
        return passing | None if type(None) in get_args(tp) else passing
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        return Annotated[(_pydantic_type(args[0]), *tp.__metadata__)]
    if origin in (Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        checked: Any = Union[tuple(_pydantic_type(m) for m in members)]  # noqa: UP007 (built at run time)
        if len(members) > 1:
            checked = Annotated[checked, _one_message(describe(Union[tuple(members)]))]  # noqa: UP007
        return checked | None if len(members) < len(args) else checked
    if _is_output_ref(tp):
        return _instance_of(pulumi.Output, "an Output")
    if _is_awaitable(tp):
        return _instance_of(collections.abc.Awaitable, "an awaitable")
    if origin is Literal or tp in (str, int, float, bool, type(None)):
        return tp
    if origin is list:
        return list[_pydantic_type(args[0])]  # type: ignore[misc]
    if origin is tuple:
        return tuple[tuple(_pydantic_type(a) if a is not Ellipsis else a for a in args)]  # type: ignore[misc]
    if origin in (collections.abc.Sequence, typing.Sequence):
        return collections.abc.Sequence[_pydantic_type(args[0])]  # type: ignore[misc]
    if origin in (dict, collections.abc.Mapping, typing.Mapping):
        mapping = dict if origin is dict else collections.abc.Mapping
        return mapping[_pydantic_type(args[0]), _pydantic_type(args[1])]
    if isinstance(tp, type):
        # Nested args (checked field by field below), resources, providers, pulumi_kubernetes args classes.
        return _instance_of(tp, f"a {tp.__name__}" + (" (not a dict)" if dataclasses.is_dataclass(tp) else ""))
    raise TypeError(f"no runtime check for the annotation {tp!r}")


def _cached_per_class(build: Callable[[type], V]) -> Callable[[type], V]:
    """One result per args class, built on first use (classes live as long as the program)."""
    cache: dict[type, V] = {}

    def get(cls: type) -> V:
        if cls not in cache:
            cache[cls] = build(cls)
        return cache[cls]
    return get


@_cached_per_class
def _field_types(cls: type) -> dict[str, Any]:
    """Each field's annotation, evaluated in the class's module (annotations are strings there)."""
    namespace = {**vars(sys.modules[cls.__module__]), "Output": pulumi.Output}
    out = {}
    for f in dataclasses.fields(cls):
        out[f.name] = eval(f.type, namespace) if isinstance(f.type, str) else f.type  # noqa: S307 (our own source)
    return out


@_cached_per_class
def _adapter(cls: type) -> TypeAdapter[Any]:
    # A model whose fields are aliased to the dataclass's: any field name works (none shadows BaseModel's).
    fields: dict[str, Any] = {f"field_{i}": (_pydantic_type(tp), Field(alias=name))
                              for i, (name, tp) in enumerate(_field_types(cls).items())}
    return TypeAdapter(create_model(cls.__name__, __config__=_STRICT, **fields))


# ------------------------------------------------------------------------------ finding problems

# No coercion: "1" is not an integer, a dict is not a ContainerResources, a string is not a list.
_STRICT = ConfigDict(strict=True, arbitrary_types_allowed=True)

# Errors of a value of the right type that breaks a constraint: rules still run when only these occur.
_VALUE_ERRORS = {"value_error", "greater_than", "greater_than_equal", "less_than", "less_than_equal", "literal_error",
                 "too_short", "too_long", "string_too_short", "string_too_long", "string_pattern_mismatch"}


_KEY_LIKE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def _path(prefix: str, loc: Iterable[Any]) -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and (part.startswith(("function-", "is-instance[", "json-or-python")) or
                                        part.endswith("]")):
            continue  # pydantic's names for the steps of a check, not a place in the data
        elif out and not _KEY_LIKE.fullmatch(str(part)):
            out += f"[{part!r}]"  # a mapping key that would read badly after a dot
        else:
            out += f".{part}" if out else str(part)
    return out


def _message(error: Any, secret: bool = False) -> str:
    text = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    text = re.sub(r"^Input should be ", "must be ", text)
    if error["type"] == "sequence_str":
        text = "must be a list (a string is not split into items)"
    value = error.get("input")
    shown = _SHOWN_AS if secret and value is not None else _show(value)
    if error["type"] not in _VALUE_ERRORS or secret:
        return f"got {shown} ({type(value).__name__}); {text}"
    return f"got {shown}; {text}"


def _is_secret(tp: Any) -> bool:
    if get_origin(tp) is Annotated and any(m is SECRET for m in tp.__metadata__):
        return True
    return any(_is_secret(a) for a in get_args(tp) if a is not Ellipsis)


@_cached_per_class
def _secret_fields(cls: type) -> frozenset[str]:
    return frozenset(name for name, tp in _field_types(cls).items() if _is_secret(tp))


def problems_of(args: Any, prefix: str = "") -> list[str]:
    """Every problem with a dataclass of args (types, constraints, rules, nested args), each naming its field."""
    cls = type(args)
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)}
    order = {name: i for i, name in enumerate(values)}
    found: list[tuple[int, str]] = []  # (the field's place in the class, the problem)
    wrong: set[str] = set()
    blocking = False

    def add(field: str, path: str, text: str) -> None:
        found.append((order.get(field, len(order)), f"{path}: {text}"))
        wrong.add(path)

    try:
        _adapter(cls).validate_python(values)
    except ValidationError as error:
        for e in error.errors():
            path = _path(prefix, e["loc"])
            # A mapping's keys are names, never secret; its values may be.
            secret = str(e["loc"][0]) in _secret_fields(cls) and e["loc"][-1] != "[key]"
            if path not in wrong:
                add(str(e["loc"][0]), path, _message(e, secret))
            blocking = blocking or e["type"] not in _VALUE_ERRORS
    for name, value in values.items():
        field_path = f"{prefix}.{name}" if prefix else name
        if field_path not in wrong:
            found += [(order[name], p) for p in _nested_problems(value, field_path)]
    if not blocking:
        for path, text in _rule_problems(args):
            full = f"{prefix}.{path}" if prefix else path
            if full not in wrong:
                add(re.split(r"[.\[/]", path)[0], full, text)
    return [problem for _, problem in sorted(found, key=lambda item: item[0])]


def _nested_problems(value: Any, path: str) -> list[str]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return problems_of(value, path)
    if isinstance(value, (list, tuple)):
        return [p for i, item in enumerate(value) for p in _nested_problems(item, f"{path}[{i}]")]
    if isinstance(value, dict):
        return [p for k, item in value.items() for p in _nested_problems(item, f"{path}[{k!r}]")]
    return []


def _rule_problems(args: Any) -> Iterator[Problem]:
    rules = getattr(args, "_rules", None)
    if rules is None:
        return
    try:
        yield from rules()
    except (TypeError, ValueError, AttributeError, ArithmeticError):
        # A rule tripped over a value already reported as breaking a constraint: that report stands.
        return


# ------------------------------------------------------------------------------ derived Kubernetes names

_DNS_LABEL_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
MAX_DNS_LABEL = 63


def name_problems(field: str, names: dict[str, str], limit: int = MAX_DNS_LABEL) -> list[Problem]:
    """Names a component derives for its children (what -> name): each must be a DNS label (lowercase letters,
    digits, '-', at most `limit` characters), or the API server refuses the object at `up`, after others exist."""
    problems: list[Problem] = []
    for role, name in names.items():
        if len(name) > limit or not _DNS_LABEL_NAME.fullmatch(name):
            problems.append((field, got(name, f"derives the {role} name {name!r} ({len(name)} characters), which "
                                              f"must be a DNS label of at most {limit} characters (lowercase letters, "
                                              "digits and '-'); choose a shorter name")))
    return problems


# ------------------------------------------------------------------------------ the entry point

def checked_args(component: str, instance: str, args: A, args_type: type[A],
                 extra: Iterable[Problem] = ()) -> A:
    """`args` once every field passed (else `InvalidArgs` listing every problem), with each Output field
    that has a constraint wrapped in an apply that checks it with the same `component 'instance'` prefix.

    `extra` adds problems only the component can see (e.g. about its instance name).
    """
    if not isinstance(args, args_type):
        raise InvalidArgs(component, instance, [f"args: got {type(args).__name__}; must be a {args_type.__name__}"])
    problems = problems_of(args)
    problems += [f"{path}: {text}" for path, text in extra]
    if problems:
        raise InvalidArgs(component, instance, problems)
    for path in plain_secrets(args):
        pulumi.log.warn(f"{component} {instance!r}: {path} is plain text; pass pulumi.Output.secret(...) (or a secret "
                        "config value) so that Pulumi encrypts it in the state and masks it in logs")
    return _with_checked_outputs(component, instance, args, "")


def plain_secrets(args: Any, prefix: str = "") -> list[str]:
    """Paths of secret fields (`SECRET`) given as plain strings rather than Pulumi secrets, nested args included."""
    found: list[str] = []
    secret_fields = _secret_fields(type(args))
    for f in dataclasses.fields(args):
        value, path = getattr(args, f.name), f"{prefix}.{f.name}" if prefix else f.name
        if f.name in secret_fields:
            values = value.items() if isinstance(value, dict) else [(None, value)]
            found += [path if key is None else f"{path}[{key!r}]" for key, v in values if isinstance(v, str)]
        else:
            items = value if isinstance(value, (list, tuple)) else [value]
            for i, item in enumerate(items):
                if dataclasses.is_dataclass(item) and not isinstance(item, type):
                    found += plain_secrets(item, f"{path}[{i}]" if item is not value else path)
    return found


def _has_constraint(tp: Any) -> bool:
    origin = get_origin(tp)
    if origin is Annotated:
        return any(isinstance(m, AfterValidator) for m in tp.__metadata__) or _has_constraint(get_args(tp)[0])
    if origin is Literal:
        return True
    return any(_has_constraint(a) for a in get_args(tp) if a is not Ellipsis)


def _with_checked_outputs(component: str, instance: str, args: A, prefix: str) -> A:
    changes: dict[str, Any] = {}
    for name, tp in _field_types(type(args)).items():
        value = getattr(args, name)
        path = f"{prefix}.{name}" if prefix else name
        inner = input_inner(tp)
        if isinstance(value, pulumi.Output) and inner is not None and _has_constraint(inner):
            changes[name] = value.apply(functools.partial(_check_resolved, component, instance, path, inner))
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            checked = _with_checked_outputs(component, instance, value, path)
            if checked is not value:
                changes[name] = checked
    return dataclasses.replace(args, **changes) if changes else args  # type: ignore[type-var]


def pending_checks(args: Any) -> list[pulumi.Output[Any]]:
    """The Outputs of `checked_args`' result still to be checked (each field with a constraint given as an
    Output, nested args included): `children_wait_for_checks` holds the component back until they pass."""
    found: list[pulumi.Output[Any]] = []
    for name, tp in _field_types(type(args)).items():
        value, inner = getattr(args, name), input_inner(tp)
        if isinstance(value, pulumi.Output) and inner is not None and _has_constraint(inner):
            found.append(value)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            found += pending_checks(value)
    return found


def children_wait_for_checks(args: Any, opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions | None:
    """The component's own options, made to hold it and every descendant back until `args`' Outputs pass their
    checks (a transformation, which Pulumi hands down to every child: pulumi 3.272.0, resource.py
    `Resource.__init__`), so a value refused once it resolves registers none of them."""
    checks = pending_checks(args)
    if not checks:
        return opts

    # Pulumi awaits an Output given as `depends_on` before it registers a resource (pulumi 3.272.0,
    # runtime/_depends_on.py `_resolve_depends_on`): one that raises registers nothing. It resolves to no resource.
    passed: pulumi.Output[list[pulumi.Resource]] = pulumi.Output.all(*checks).apply(lambda _: [])

    def wait(child: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult:
        gate = pulumi.ResourceOptions(depends_on=passed)
        return pulumi.ResourceTransformationResult(child.props, pulumi.ResourceOptions.merge(child.opts, gate))

    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(transformations=[wait]))


def _check_resolved(component: str, instance: str, path: str, tp: Any, value: Any) -> Any:
    try:
        TypeAdapter(_pydantic_type(tp), config=_STRICT).validate_python(value)
    except ValidationError as error:
        raise InvalidArgs(component, instance, [f"{_path(path, e['loc'])}: {_message(e, _is_secret(tp))}"
                                                for e in error.errors()]) from None
    return value
