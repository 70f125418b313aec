"""What CI needs to know about each stack, read from its `Pulumi.<stack>.yaml` (never decrypted)."""

from __future__ import annotations

from pathlib import Path

from stack_config import StackConfig, load, read_stack_file
from stack_config.catalogue import entry_key

PROJECT_DIR = Path(__file__).resolve().parents[2]


def stack_names(project_dir: Path = PROJECT_DIR) -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))


def stack_config(stack: str, project_dir: Path = PROJECT_DIR) -> StackConfig:
    return load(read_stack_file(project_dir / f"Pulumi.{stack}.yaml"))


def ci_stacks(project_dir: Path = PROJECT_DIR) -> list[str]:
    """The stacks CI previews and deploys: those whose config says how CI reaches them (`delivery`)."""
    return [s for s in stack_names(project_dir) if stack_config(s, project_dir).delivery is not None]


def built_models(config: StackConfig, stack: str) -> list[dict]:
    """The models whose image CI builds and deploys: those running this repository's server (`runtime:
    model-server`; an `image` in the stack file is replaced by CI's tested digest, as for the single `model:`),
    each with the config key its image goes to, its image variant and its own ECR repository. A vendor runtime
    (vLLM, Triton) keeps the image its entry names."""
    return [{"name": view.model.name, "key": entry_key(config, index), "variant": view.model.image_variant,
             "repository": view.registry_name_for(stack)}
            for index, view in enumerate(config.catalogue()) if view.model.runtime == "model-server"]


def check_repository(stack: str, config: StackConfig, github_repository: str | None) -> None:
    """The repository the stack admits images from must be the one whose workflows deploy it: a copy of these
    stack files in another repository (an adopter's) fails here, before any job, rather than at admission."""
    wanted = config.delivery.repository if config.delivery else None
    if github_repository is None or wanted is None or wanted == github_repository:
        return
    raise SystemExit(f"Pulumi.{stack}.yaml: gpu-model-platform:delivery.repository is {wanted!r}, but these workflows "
                     f"run in {github_repository!r}: the cluster would admit only images signed by {wanted!r}'s "
                     f"deploy workflow. Set delivery.repository to {github_repository!r} (exactly, as GitHub spells "
                     "it: the signature names it case for case) in each stack file (docs/delivery.md, first-time setup)")


def stack_info(stack: str, project_dir: Path = PROJECT_DIR, github_repository: str | None = None) -> dict:
    """Where the stack's jobs run, the image variant it deploys and the repositories its images go to.

    One digest per stack: every model CI builds uses one variant, so one tested archive (one digest) goes to
    each model's repository; `variant` and `repository` are the single-model form's (the first built model)."""
    config = stack_config(stack, project_dir)
    if config.delivery is None:
        raise SystemExit(f"stack {stack!r} has no gpu-model-platform:delivery section: CI does not deploy it "
                         f"(CI stacks: {', '.join(ci_stacks(project_dir)) or 'none'})")
    check_repository(stack, config, github_repository)
    models = built_models(config, stack)
    variants = sorted({m["variant"] for m in models})
    if len(variants) > 1:
        raise SystemExit(f"Pulumi.{stack}.yaml: the models CI builds use image variants {variants}; CI deploys one "
                         "tested image (one digest) per stack: give them one imageVariant, or give the others an "
                         "`image` by digest")
    return {
        "stack": stack,
        "runs_on": list(config.delivery.runner_labels),
        # Pull request previews only: a pool that never runs a plan, deploy or drift job (empty: none).
        "preview_runs_on": list(config.delivery.preview_runner_labels),
        "variant": variants[0] if variants else "",
        "repository": models[0]["repository"] if models else "",
        "models": models,
        "region": config.aws.region if config.aws else "",
    }


def model_images(stack: str, image: str, version: str, project_dir: Path = PROJECT_DIR) -> list[tuple[str, str]]:
    """`(config key, value)` pairs that deploy `image`'s digest to every model CI builds: each model's own
    repository in the same registry host, the same digest (the archive is pushed to each unchanged)."""
    host, digest = image.split("/", 1)[0], image.rsplit("@", 1)[1]
    pairs = []
    for model in built_models(stack_config(stack, project_dir), stack):
        pairs.append((f"{model['key']}.image", f"{host}/{model['repository']}@{digest}"))
        if version:
            pairs.append((f"{model['key']}.version", version))
    return pairs


def image_variants(project_dir: Path = PROJECT_DIR, ci_only: bool = False) -> list[str]:
    """The image variants to build: those of every model CI builds in every stack (or the CI stacks only)."""
    stacks = ci_stacks(project_dir) if ci_only else stack_names(project_dir)
    return sorted({m["variant"] for s in stacks for m in built_models(stack_config(s, project_dir), s)})
