"""Who owns which named object: two component instances never silently write the same one.

Most objects are auto-named from the instance name, but some names are fixed by what the object is
(a namespace, a Helm release the charts derive names from, a cluster-scoped APIService, an ECR
repository people pull from). Two instances that would create the same one would overwrite each
other's object on `pulumi up`, or fail half-way. Each component lists the objects it will create
under a fixed name and claims them at declaration, before anything is registered; a claim already
held by another instance fails, naming both instances.

Claims are per program run: they are kept per Pulumi root stack resource, which every run (and every
`pulumi.runtime.set_mocks` / `gpu_model_platform.testing` run) creates anew. The same instance
declaring itself again in the same run (a test re-running a program) is not a conflict.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.runtime.settings import get_root_resource

from ._args import InvalidArgs


@dataclass(frozen=True)
class Claim:
    """One object created under a fixed name through one provider package."""

    package: str
    """The provider package the object goes through: `kubernetes` or `aws`."""
    kind: str
    """The object's kind as people say it: `Namespace`, `apps/Deployment`, `Helm release`, `ECR repository`."""
    name: str
    namespace: str | None = None
    """For namespaced Kubernetes objects and Helm releases; None when cluster- or account-scoped."""
    field: str = ""
    """The args field the name comes from, so the message says what to change."""

    def describe(self) -> str:
        where = f" in namespace {self.namespace!r}" if self.namespace else ""
        return f"{self.kind} {self.name!r}{where}"


# Outputs whose value their component knew at declaration (a ModelService's names): another component given
# one of them as a name can still claim what it creates under that name before anything is registered.
_KNOWN: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def known(output: pulumi.Output[str], value: str) -> pulumi.Output[str]:
    """`output`, recorded as resolving to `value` (known at declaration), so claims naming it fire at once."""
    _KNOWN[output] = value
    return output


def plain(value: Any) -> str | None:
    """A name as known at declaration: a string, or an Output recorded with `known`; None otherwise."""
    if isinstance(value, str):
        return value
    try:
        return _KNOWN.get(value)
    except TypeError:  # not weak-referenceable, so never recorded
        return None


def kubernetes(kind: str, name: Any, namespace: Any = None, field: str = "") -> Claim | None:
    """A Kubernetes object's claim; None when its name (or namespace) is only known later (an Output nobody
    recorded with `known`)."""
    plain_name, plain_namespace = plain(name), plain(namespace) if namespace is not None else None
    if plain_name is None or (namespace is not None and plain_namespace is None):
        return None
    return Claim("kubernetes", kind, plain_name, plain_namespace, field)


def helm_release(name: Any, namespace: Any, field: str = "") -> Claim | None:
    return kubernetes("Helm release", name, namespace, field)


_Owners = dict[tuple[int, Claim], str]
_RUNS: weakref.WeakKeyDictionary[pulumi.Resource, _Owners] = weakref.WeakKeyDictionary()
_NO_ROOT: _Owners = {}


def _owners() -> _Owners:
    root = get_root_resource()
    if root is None:
        return _NO_ROOT
    return _RUNS.setdefault(root, {})


def provider_for(package: str, opts: pulumi.ResourceOptions | None) -> pulumi.ProviderResource | None:
    """The provider a component's children of `package` will use (Pulumi's own precedence), None = default."""
    if opts is None:
        return None
    if opts.provider is not None and opts.provider.package == package:
        return opts.provider
    providers = opts.providers or {}
    by_package: dict[str, pulumi.ProviderResource] = (
        dict(providers) if isinstance(providers, Mapping) else {p.package: p for p in providers})
    if package in by_package:
        return by_package[package]
    if opts.parent is not None:
        return opts.parent.get_provider(f"{package}:index:Claim")
    return None


def _provider_words(provider: pulumi.ProviderResource | None, package: str) -> str:
    return f"provider {getattr(provider, '_name', '?')!r}" if provider is not None else f"the default {package} provider"


def claim(component: str, instance: str, opts: pulumi.ResourceOptions | None, claims: Iterable[Claim | None]) -> None:
    """Record that `component 'instance'` creates these objects; fail naming both instances on a clash.

    All or nothing: a clash records none of the claims.
    """
    owner = f"{component} {instance!r}"
    owners = _owners()
    wanted: list[tuple[int, Claim]] = []
    clashes: dict[tuple[str, str, str], list[str]] = {}  # (field, holder, provider) -> the objects
    for c in claims:
        if c is None:
            continue
        provider = provider_for(c.package, opts)
        key = (id(provider), c)
        holder = owners.get(key)
        if holder is not None and holder != owner:
            clashes.setdefault((c.field, holder, _provider_words(provider, c.package)), []).append(c.describe())
        wanted.append(key)
    if clashes:
        raise InvalidArgs(component, instance, [
            f"{field or 'name'}: {', '.join(objects)} (through {provider}) already created by {holder}; two "
            f"instances would overwrite each other's objects: give this one another {field or 'instance name'}"
            for (field, holder, provider), objects in clashes.items()])
    # Providers are keyed by identity: they live as long as the run (the engine holds every resource),
    # so an id is never reused while the claims of that run are kept.
    owners.update({key: owner for key in wanted})
