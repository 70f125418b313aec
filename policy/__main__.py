"""The gpu-model-platform policy pack: `pulumi preview --policy-pack policy` runs this file.

Every policy is mandatory: a violation fails the preview or update. The policies live in
`platform_policies/`, one module per concern, and are unit-tested in tests/test_policy.py.
"""

from platform_policies import PACK_NAME, all_policies
from platform_policies._runtime import keep_secrets_visible
from pulumi_policy import EnforcementLevel, PolicyPack

keep_secrets_visible()

PolicyPack(
    name=PACK_NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=all_policies(),
    description="What gpu-model-platform promises: pinned images, hardened pods and nodes, GPU scheduling, "
                "production availability, no public endpoint, no plaintext secrets, and the chains between resources: "
                "volumes that bind, enforced NetworkPolicies, GPU capacity that fits, satisfiable zone spread, exact "
                "IRSA trust, a supported Kubernetes, HTTPS-only authenticated model endpoints whose "
                "targets drain cleanly.",
)
