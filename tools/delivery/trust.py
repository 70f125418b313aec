"""The IAM trust policy of each CI role: which workflow, on which ref, in which environment may assume it.

GitHub's OIDC token names the job's environment and, once the repository's subject template includes it,
the workflow file and ref the job's code came from (`job_workflow_ref`; for a reusable workflow, the
called file). The repository sets the template once:

    gh api -X PUT repos/OWNER/REPO/actions/oidc/customization/sub \\
      -F use_default=false -f 'include_claim_keys[]=repo' -f 'include_claim_keys[]=context' \\
      -f 'include_claim_keys[]=job_workflow_ref'

and every token's `sub` becomes `repo:OWNER/REPO:environment:ENV:job_workflow_ref:OWNER/REPO/.github/
workflows/FILE@REF`. Source: GitHub Docs, "OpenID Connect reference", "Example: Requiring a reusable
workflow and other claims" (github/docs content/actions/reference/security/oidc.md, commit 051718f, read
2026-12-07): that template gives `repo:ORG-NAME/REPO-NAME:environment:ENVIRONMENT-NAME:job_workflow_ref:
REUSABLE-WORKFLOW-PATH`, e.g. `...:job_workflow_ref:octo-org/octo-automation/.github/workflows/oidc.yml@refs/
heads/main`. The same page: repositories created after 2026-07-15 (or opted in) use *immutable* subject
claims, whose `repo` segment is `OWNER@OWNER-ID/REPO@REPO-ID` even in a customized template; pass the two
ids (`--immutable-ids`) for such a repository. Each role below trusts exactly that subject, so a job
elsewhere (another workflow, a branch, a fork's pull request) cannot assume it even inside the right
environment.
"""

from __future__ import annotations

import re
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


def repo_segment(repository: str, ids: str | None = None) -> str:
    """The `repo` value of the `sub`: `OWNER/REPO`, or `OWNER@OWNER-ID/REPO@REPO-ID` with immutable claims."""
    if ids is None:
        return repository
    owner, name = repository.split("/")
    owner_id, repo_id = ids.split("/")
    return f"{owner}@{owner_id}/{name}@{repo_id}"


def subjects(repository: str, stack: str, role: str, ids: str | None = None) -> list[str]:
    """The `sub` claims (customized template) the role trusts. `job_workflow_ref` names the repository
    without ids in both formats: it is the workflow's path, not the subject's `repo` segment."""
    ci_role = ROLES[role]
    environment = ci_role.environment.format(stack=stack)
    return [f"repo:{repo_segment(repository, ids)}:environment:{environment}:job_workflow_ref:"
            f"{repository}/.github/workflows/{ci_role.workflow}@{ref}" for ref in ci_role.refs]


def trust_policy(repository: str, account: str, stack: str, role: str, ids: str | None = None) -> dict:
    """The role's trust policy: GitHub's OIDC provider in `account`, the audience, the exact subjects."""
    if "/" not in repository or repository.count("/") != 1:
        raise SystemExit(f"--repository: got {repository!r}; expected OWNER/REPO")
    if ids is not None and not re.fullmatch(r"[0-9]+/[0-9]+", ids):
        raise SystemExit(f"--immutable-ids: got {ids!r}; expected OWNER-ID/REPO-ID, the numeric ids GitHub "
                         "puts in an immutable subject claim")
    wanted = subjects(repository, stack, role, ids)
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
