"""What CI needs to know about each stack, read from its `Pulumi.<stack>.yaml` (never decrypted)."""

from __future__ import annotations

from pathlib import Path

from stack_config import StackConfig, load, read_stack_file

PROJECT_DIR = Path(__file__).resolve().parents[2]


def stack_names(project_dir: Path = PROJECT_DIR) -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))


def stack_config(stack: str, project_dir: Path = PROJECT_DIR) -> StackConfig:
    return load(read_stack_file(project_dir / f"Pulumi.{stack}.yaml"))


def ci_stacks(project_dir: Path = PROJECT_DIR) -> list[str]:
    """The stacks CI previews and deploys: those whose config says how CI reaches them (`delivery`)."""
    return [s for s in stack_names(project_dir) if stack_config(s, project_dir).delivery is not None]


def stack_info(stack: str, project_dir: Path = PROJECT_DIR) -> dict:
    """Where the stack's jobs run, which image variant it deploys and which repository it pushes to."""
    config = stack_config(stack, project_dir)
    if config.delivery is None:
        raise SystemExit(f"stack {stack!r} has no gpu-model-platform:delivery section: CI does not deploy it "
                         f"(CI stacks: {', '.join(ci_stacks(project_dir)) or 'none'})")
    return {
        "stack": stack,
        "runs_on": list(config.delivery.runner_labels),
        # Pull request previews only: a pool that never runs a plan, deploy or drift job (empty: none).
        "preview_runs_on": list(config.delivery.preview_runner_labels),
        "variant": config.model.image_variant,
        "repository": config.registry_name_for(stack),
        "region": config.aws.region if config.aws else "",
    }


def image_variants(project_dir: Path = PROJECT_DIR, ci_only: bool = False) -> list[str]:
    """The image variants to build: those of every stack (or of the CI stacks only), in a stable order."""
    stacks = ci_stacks(project_dir) if ci_only else stack_names(project_dir)
    return sorted({stack_config(s, project_dir).model.image_variant for s in stacks})
