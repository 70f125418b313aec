"""The IAM trust policy of each CI role: which workflow, on which ref, in which environment may assume it.

GitHub's OIDC token names the job's environment and, once the repository's subject template includes it,
the workflow file and ref the job's code came from (`job_workflow_ref`; for a reusable workflow, the
called file). The repository sets the template once:

    gh api -X PUT repos/OWNER/REPO/actions/oidc/customization/sub \\
      -F use_default=false -f 'include_claim_keys[]=repo' -f 'include_claim_keys[]=context' \\
      -f 'include_claim_keys[]=job_workflow_ref'

and every token's `sub` becomes `repo:OWNER/REPO:environment:ENV:job_workflow_ref:OWNER/REPO/.github/
workflows/FILE@REF` (docs.github.com, Actions, OpenID Connect reference: customizing the subject claims).
Each role below trusts exactly that subject, so a job elsewhere (another workflow, a branch, a fork's
pull request) cannot assume it even inside the right environment.
"""

from __future__ import annotations

from dataclasses import dataclass

ISSUER = "token.actions.githubusercontent.com"
AUDIENCE = "sts.amazonaws.com"
MAIN = "refs/heads/main"


@dataclass(frozen=True)
class CiRole:
    """One CI role of a stack: the environment that carries it and the workflow that may use it."""

    environment: str
    """GitHub environment, `{stack}` filled in."""
    workflow: str
    """The workflow file whose job requests the token (the called file for a reusable workflow)."""
    refs: tuple[str, ...]
    """Refs that workflow may run from (a `*` is a wildcard of StringLike)."""
    variable: str
    """The environment variable holding the role's ARN."""


ROLES: dict[str, CiRole] = {
    # Applies the plan: main's stack.yml only, in the stack's own environment (prod: required reviewers).
    "deploy": CiRole("{stack}", "stack.yml", (MAIN,), "AWS_DEPLOY_ROLE_ARN"),
    # Plans for main's deploys and rollbacks: read-only, main's stack.yml only.
    "plan": CiRole("{stack}-preview", "stack.yml", (MAIN,), "AWS_PREVIEW_ROLE_ARN"),
    # The nightly refresh: read-only (Secrets included: a refresh reads them), main's drift.yml only.
    "drift": CiRole("{stack}-drift", "drift.yml", (MAIN,), "AWS_DRIFT_ROLE_ARN"),
    # Pull request previews: a branch's own pull request (the merge ref) or a maintainer's dispatch on main.
    # The pull request can edit the file, so this role can do no more than read (no Secret) and dry-run.
    "pr-preview": CiRole("{stack}-pr-preview", "preview-stack.yml", ("refs/pull/*/merge", MAIN), "AWS_PREVIEW_ROLE_ARN"),
}


def subjects(repository: str, stack: str, role: str) -> list[str]:
    """The `sub` claims (customized template) the role trusts."""
    ci_role = ROLES[role]
    environment = ci_role.environment.format(stack=stack)
    return [f"repo:{repository}:environment:{environment}:job_workflow_ref:"
            f"{repository}/.github/workflows/{ci_role.workflow}@{ref}" for ref in ci_role.refs]


def trust_policy(repository: str, account: str, stack: str, role: str) -> dict:
    """The role's trust policy: GitHub's OIDC provider in `account`, the audience, the exact subjects."""
    if "/" not in repository or repository.count("/") != 1:
        raise SystemExit(f"--repository: got {repository!r}; expected OWNER/REPO")
    wanted = subjects(repository, stack, role)
    wildcard = any("*" in s for s in wanted)
    condition = {"StringEquals": {f"{ISSUER}:aud": AUDIENCE}}
    if wildcard:
        condition["StringLike"] = {f"{ISSUER}:sub": wanted}
    else:
        condition["StringEquals"][f"{ISSUER}:sub"] = wanted[0] if len(wanted) == 1 else wanted
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": f"arn:aws:iam::{account}:oidc-provider/{ISSUER}"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": condition}]}
