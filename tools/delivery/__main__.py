"""`python -m tools.delivery <command>`: the delivery workflows' helpers (see tools/delivery/__init__.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tools.delivery import changes, image_gate, oci, plan_summary, trust


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.delivery", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("stack-info", help="JSON: runs-on labels, image variant, repository, region")
    info.add_argument("stack")
    variants = commands.add_parser("variants", help="JSON list of image variants to build")
    variants.add_argument("--ci-only", action="store_true", help="only the variants of the stacks CI deploys")
    listed = commands.add_parser("ci-stacks", help="JSON: each stack CI previews and deploys -> its stack-info")
    listed.add_argument("--github-repository", default=None, metavar="OWNER/REPO",
                        help="the repository the workflows run in ($GITHUB_REPOSITORY): each stack's "
                             "delivery.repository must name it")
    images = commands.add_parser("model-images", help="lines `<config key>\t<value>`: the image (and version) of "
                                                      "every model CI builds in the stack")
    images.add_argument("stack")
    images.add_argument("image", help="<registry host>/<repository>@sha256:<digest>")
    images.add_argument("version", nargs="?", default="")
    digest = commands.add_parser("oci-digest", help="the manifest digest of an OCI image archive")
    digest.add_argument("archive", type=Path)
    gate = commands.add_parser("image-gate", help="score the held-out digits through a running image")
    gate.add_argument("--url", required=True)
    gate.add_argument("--model", required=True)
    gate.add_argument("--min-accuracy", type=float, required=True)
    gate.add_argument("--app-dir", default="app")
    summary = commands.add_parser("plan-summary", help="a saved plan as Markdown")
    summary.add_argument("plan", type=Path)
    summary.add_argument("--stack", required=True)
    summary.add_argument("--commit", required=True)
    summary.add_argument("--image", required=True)
    changed = commands.add_parser("changes", help="JSON {image, deploy}: what the changed files (stdin, one a line) need")
    changed.add_argument("--all", action="store_true", help="treat everything as changed (no earlier commit to compare)")
    policy = commands.add_parser("trust-policy", help="the IAM trust policy of one stack's CI role (docs/delivery.md)")
    policy.add_argument("--repository", required=True, help="OWNER/REPO")
    policy.add_argument("--account", required=True, help="the AWS account id holding the OIDC provider")
    policy.add_argument("--stack", required=True)
    policy.add_argument("--role", required=True, choices=sorted(trust.ROLES))
    policy.add_argument("--immutable-ids", metavar="OWNER-ID/REPO-ID", default=None,
                        help="the repository uses GitHub's immutable subject claims: its owner and repository ids")
    args = parser.parse_args(argv)

    if args.command in ("stack-info", "variants", "ci-stacks", "model-images"):
        # Imported on use: the image job's other commands need neither Pulumi nor the stack config.
        from tools.delivery import stacks

    if args.command == "stack-info":
        print(json.dumps(stacks.stack_info(args.stack)))
    elif args.command == "variants":
        print(json.dumps(stacks.image_variants(ci_only=args.ci_only)))
    elif args.command == "ci-stacks":
        print(json.dumps({stack: stacks.stack_info(stack, github_repository=args.github_repository)
                          for stack in stacks.ci_stacks()}))
    elif args.command == "model-images":
        for key, value in stacks.model_images(args.stack, args.image, args.version):
            print(f"{key}\t{value}")
    elif args.command == "oci-digest":
        print(oci.archive_digest(args.archive))
    elif args.command == "image-gate":
        rows, labels = image_gate.heldout_rows(args.app_dir)
        report = image_gate.gate(args.url, args.model, rows, labels, args.min_accuracy)
        print(json.dumps(report))
        if not report["passed"]:
            print(f"image quality gate FAILED: {report['accuracy']} < {args.min_accuracy}", file=sys.stderr)
            return 1
    elif args.command == "changes":
        print(json.dumps({"image": True, "deploy": True} if args.all else changes.classify(sys.stdin.read().splitlines())))
    elif args.command == "trust-policy":
        print(json.dumps(trust.trust_policy(args.repository, args.account, args.stack, args.role, args.immutable_ids), indent=2))
    elif args.command == "plan-summary":
        print(plan_summary.summary_markdown(args.plan, args.stack, args.commit, args.image), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
