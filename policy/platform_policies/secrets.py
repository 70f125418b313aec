"""No secret reaches a resource in plain text.

Secrets come from stack config set with `pulumi config set --secret`, and stay Pulumi secrets
(encrypted in state) all the way into a Kubernetes Secret; Helm values, ConfigMaps and pod
environment variables only reference them. What a Pulumi secret is, the policy learns from the
engine (see `_runtime.keep_secrets_visible`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ._common import (
    CONFIG_MAP,
    HELM_RELEASE,
    SECRET,
    WORKLOADS,
    containers,
    label,
    pod_spec,
    resource_policy,
)
from ._values import UNKNOWN, dotted, get, items, walk

# Names whose value is a credential (compared lowercase, without separators). Names that merely
# point at one (passwordKey, existingSecret, tokenFile, secretKeyRef) do not end like this.
_SENSITIVE_NAME = re.compile(
    r"(password|passwd|passphrase|token|apikey|secretkey|secretaccesskey|clientsecret|privatekey|"
    r"routingkey|servicekey|integrationkey|webhookurl|slackapiurl)$")


def is_sensitive_name(name: Any) -> bool:
    return isinstance(name, str) and bool(_SENSITIVE_NAME.search(re.sub(r"[^a-z0-9]", "", name.lower())))


def _plain_credential(value: Any, secret: bool) -> bool:
    return not secret and isinstance(value, str) and value != "" and value is not UNKNOWN


def _check_secret_data(resource_type: str, name: str, props: dict) -> Iterator[str]:
    for field in ("data", "stringData"):
        for path, value, secret in walk(props.get(field), (field,)):
            if not secret and value is not None:
                yield (f"{label(resource_type, name)}: {dotted(path)} is not a Pulumi secret, so it is stored in "
                       "plain text in the state; pass it as pulumi.Output.secret(...) or from config read with "
                       "require_secret()")


def _check_config_map(resource_type: str, name: str, props: dict) -> Iterator[str]:
    for field in ("data", "binaryData"):
        data = get(props, field)
        for key in data if isinstance(data, dict) else {}:
            if is_sensitive_name(key):
                yield (f"{label(resource_type, name)}: {field}.{key} looks like a credential in a ConfigMap; "
                       "put it in a Kubernetes Secret and reference it")


def _check_helm_values(resource_type: str, name: str, props: dict) -> Iterator[str]:
    for path, value, secret in walk(props.get("values"), ("values",)):
        key = next((k for k in reversed(path) if isinstance(k, str)), None)
        if is_sensitive_name(key) and _plain_credential(value, secret):
            yield (f"{label(resource_type, name)}: {dotted(path)} holds a credential in plain text; keep it in a "
                   "Kubernetes Secret and point the chart at it (e.g. grafana.admin.existingSecret), or at least "
                   "pass it as a Pulumi secret")


def _check_env(resource_type: str, name: str, props: dict) -> Iterator[str]:
    for where, container in containers(pod_spec(resource_type, props)):
        for env in items(get(container, "env")):
            for _path, value, secret in walk(env.get("value") if isinstance(env, dict) else None):
                if is_sensitive_name(get(env, "name")) and _plain_credential(value, secret):
                    yield (f"{label(resource_type, name)}: {where} sets env {get(env, 'name')} to a plain-text "
                           "value; use valueFrom.secretKeyRef to a Kubernetes Secret")


_CHECKS = {SECRET: _check_secret_data, CONFIG_MAP: _check_config_map, HELM_RELEASE: _check_helm_values}


def _check(resource_type: str, name: str, props: dict) -> Iterator[str]:
    check = _CHECKS.get(resource_type, _check_env)
    yield from check(resource_type, name, props)


no_plaintext_secrets = resource_policy(
    name="no-plaintext-secrets",
    description="Credentials stay Pulumi secrets: Kubernetes Secret data is secret, and Helm values, ConfigMaps and "
                "pod env never hold a credential in plain text.",
    types=(SECRET, CONFIG_MAP, HELM_RELEASE, *WORKLOADS),
    check=_check,
    remediation_steps="Read credentials with config.require_secret() and reference them through Kubernetes Secrets.",
)
