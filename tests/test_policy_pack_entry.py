"""The policy pack's entry point: `serve()` runs every policy of the pack, mandatory, under the pack's name and
description, with secrets kept visible to the policies (what a pack directory's `__main__.py` runs)."""

from __future__ import annotations

import pulumi_policy

import policy.platform_policies as pack


def test_serving_the_pack_runs_every_policy_mandatory_under_its_name_and_description(monkeypatch):
    calls = []
    monkeypatch.setattr(pack, "keep_secrets_visible", lambda: calls.append("secrets visible"))
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kwargs: calls.append(kwargs))
    pack.serve()
    assert calls[0] == "secrets visible"
    served = calls[1]
    assert set(served) == {"name", "enforcement_level", "policies", "description"}
    assert (served["name"], served["description"]) == ("gpu-model-platform", pack.DESCRIPTION)
    assert served["enforcement_level"] == pulumi_policy.EnforcementLevel.MANDATORY
    assert [p.name for p in served["policies"]] == [p.name for p in pack.all_policies()]
    assert pack.DESCRIPTION
