"""ModelImage: build the model server image, push it, and hand on its reference by digest."""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker

from .._args import EnvName, Problem, checked_args, got, matches, problems_of

# The version labels the Deployment and starts the image tag, so it must be both a Kubernetes label
# value (63 characters, alphanumeric at both ends) and a Docker tag (no `+`, `/` or `:`).
VERSION_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
_PLATFORM_RE = re.compile(r"^[a-z0-9]+/[a-z0-9]+(/v[0-9]+)?$")
_DIGEST_SUFFIX_RE = re.compile(r"@sha256:[0-9a-f]{64}$")
_CONTENT_HASH_LENGTH = 12
Version = Annotated[str, matches(VERSION_RE.pattern.strip("^$"), f"must match {VERSION_RE.pattern} (a Kubernetes label "
                                                                 "value and a Docker tag)")]
Platform = Annotated[str, matches(_PLATFORM_RE.pattern.strip("^$"), "must be os/arch such as linux/amd64")]


@dataclass
class ModelImageArgs:
    """Inputs of `ModelImage`."""

    repository_url: pulumi.Input[str]
    """Repository to push to (`ModelRegistry.repository_url`), without a tag."""
    context: str
    """Build context directory, relative to the working directory (the project under `pulumi up`)."""
    dockerfile: str = "Dockerfile"
    """Dockerfile path inside the build context."""
    variant: Literal["cpu", "gpu"] = "gpu"
    """Dockerfile target stage: `gpu` (CUDA runtime) or `cpu`."""
    version: Optional[Version] = None
    """Model version; None reads `metadata_file`'s `version`, else hashes the build context."""
    metadata_file: str = "artifacts/metadata.json"
    """The trained model's metadata, inside the build context."""
    ecr_registry_id: Optional[pulumi.Input[str]] = None
    """ECR registry (account) to log in to with a short-lived token; None pushes without credentials."""
    platform: Platform = "linux/amd64"
    """Target platform: the EKS GPU nodes are x86_64, whatever machine runs the build."""
    build_args: dict[EnvName, str] = field(default_factory=dict)
    """Extra build arguments; `MODEL_VERSION` (and `GIT_REVISION` when the metadata has it) are set."""

    def _rules(self) -> list[Problem]:
        """The build context must hold the Dockerfile, with a stage for the variant."""
        context = Path(self.context)
        dockerfile = context / self.dockerfile
        if not context.is_dir():
            return [("context", got(self.context, f"not a directory (from {Path.cwd()})"))]
        if not dockerfile.is_file():
            return [("dockerfile", got(self.dockerfile, f"no such file in {self.context!r}"))]
        stages = dockerfile_stages(dockerfile.read_text())
        if self.variant not in stages:
            return [("variant", got(self.variant, f"{dockerfile} declares no stage `AS {self.variant}` "
                                                  f"(stages: {', '.join(sorted(stages)) or 'none'})"))]
        return []


@dataclass(frozen=True)
class ModelVersion:
    """A model version and where it came from: `config`, `metadata` or `content`."""

    value: str
    source: Literal["config", "metadata", "content"]


# ------------------------------------------------------------------------------ build context

def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    """Docker's pattern syntax (moby/patternmatcher): `*` and `?` stop at `/`, `**` crosses it."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:end]
                out.append("[" + ("^" + body[1:] if body.startswith(("!", "^")) else body) + "]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("^" + "".join(out) + "$")


def read_dockerignore(text: str) -> list[tuple[bool, str, re.Pattern[str]]]:
    """Patterns as `(exception, cleaned pattern, regex)`, in file order (the last match wins)."""
    patterns = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        line = line[1:].strip() if exception else line
        cleaned = os.path.normpath(line).replace(os.sep, "/").lstrip("/") or "."
        patterns.append((exception, cleaned, _dockerignore_regex(cleaned)))
    return patterns


def is_ignored(path: str, patterns: list[tuple[bool, str, re.Pattern[str]]]) -> bool:
    """Whether Docker leaves `path` (relative, `/`-separated) out of the context: it or a parent matches."""
    parents = path.split("/")
    ignored = False
    for exception, _, regex in patterns:
        if any(regex.match("/".join(parents[:n])) for n in range(len(parents), 0, -1)):
            ignored = not exception
    return ignored


def context_files(context: Path, patterns: list[tuple[bool, str, re.Pattern[str]]]) -> list[str]:
    """The files Docker would send, sorted; an ignored directory is skipped unless an exception names
    something inside it (the same shortcut `docker build` takes)."""
    files = []
    for root, dirs, names in os.walk(context):
        rel_root = Path(root).relative_to(context).as_posix()
        prefix = "" if rel_root == "." else rel_root + "/"
        kept = []
        for d in sorted(dirs):
            rel = prefix + d
            if os.path.islink(os.path.join(root, d)):  # walked as a file: its target text is hashed
                names.append(d)
                continue
            if is_ignored(rel, patterns) and not any(
                    exception and (p + "/").startswith(rel + "/") for exception, p, _ in patterns):
                continue
            kept.append(d)
        dirs[:] = kept
        files += [prefix + n for n in names if not is_ignored(prefix + n, patterns)]
    return sorted(files)


def _dockerignore_for(context: Path, dockerfile: Path) -> list[tuple[bool, str, re.Pattern[str]]]:
    # Like the Docker provider: `<Dockerfile>.dockerignore` beside the Dockerfile wins over `.dockerignore`.
    for candidate in (dockerfile.with_name(dockerfile.name + ".dockerignore"), context / ".dockerignore"):
        if candidate.is_file():
            return read_dockerignore(candidate.read_text())
    return []


def content_hash(context: Path, dockerfile: Path, variant: str, platform: str) -> str:
    """SHA-256 over what determines the image: the Dockerfile, the target, the platform and every
    file of the context that `.dockerignore` lets through (sorted paths and their bytes)."""
    digest = hashlib.sha256()
    for part in ("dockerfile", dockerfile.read_bytes(), "target", variant, "platform", platform):
        digest.update(part if isinstance(part, bytes) else part.encode())
        digest.update(b"\0")
    for rel in context_files(context, _dockerignore_for(context, dockerfile)):
        path = context / rel
        data = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
        digest.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()


def read_metadata(path: Path) -> Optional[dict[str, Any]]:
    """The trained model's metadata, None when there is none; a broken file is an error, not a fallback."""
    if not path.is_file():
        return None
    try:
        metadata = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not readable JSON ({error})") from error
    if not isinstance(metadata, dict):
        raise ValueError(f"{path}: must hold a JSON object")
    return metadata


def resolve_version(configured: Optional[str], metadata: Optional[dict[str, Any]], metadata_path: Path,
                    context_digest: str) -> ModelVersion:
    """Config first, then the metadata's `version`, then the content hash (its first 12 hex digits)."""
    if configured:
        return ModelVersion(configured, "config")
    if metadata is not None:
        version = metadata.get("version")
        if not isinstance(version, str) or not VERSION_RE.match(version):
            raise ValueError(f"{metadata_path}: version: got {version!r}; must match {VERSION_RE.pattern}")
        return ModelVersion(version, "metadata")
    return ModelVersion(context_digest[:_CONTENT_HASH_LENGTH], "content")


def dockerfile_stages(text: str) -> set[str]:
    """Stage names declared with `FROM ... AS <name>` (case-insensitive, as Docker reads them)."""
    return {m.lower() for m in re.findall(r"^\s*FROM\s+(?:--\S+\s+)*\S+\s+AS\s+(\S+)", text, re.IGNORECASE | re.MULTILINE)}


def validate_model_image_args(args: ModelImageArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid. Reads the build context."""
    return problems_of(args)


# ------------------------------------------------------------------------------ component

class ModelImage(pulumi.ComponentResource):
    """Builds the model server image for one platform and pushes it, tagged with the model version.

    Creates one `docker.Image` (BuildKit, target stage = variant). Pushes to ECR with a token from
    `aws.ecr.get_authorization_token` (the password kept secret), or to a local registry without
    credentials. `image_ref` is the pushed image by digest, never by tag.
    """

    image_ref: pulumi.Output[str]
    """The pushed image by digest: `<repository>@sha256:<64 hex>`."""
    image_name: pulumi.Output[str]
    """The pushed image by tag (for people; deploy `image_ref`)."""
    model_version: str
    """The model version, known when the program starts (it labels the Deployment)."""
    version_source: str
    """Where `model_version` came from: `config`, `metadata` or `content`."""
    image_tag: str
    """`<model_version>-<12 hex of the build content>` (just the hash when the version is the hash)."""

    def __init__(self, name: str, args: ModelImageArgs, opts: Optional[pulumi.ResourceOptions] = None):
        args = checked_args("ModelImage", name, args, ModelImageArgs)
        context = Path(args.context)
        metadata_path = context / args.metadata_file
        metadata = read_metadata(metadata_path)
        digest = content_hash(context, context / args.dockerfile, args.variant, args.platform)
        version = resolve_version(args.version, metadata, metadata_path, digest)
        super().__init__("gpu-model-platform:index:ModelImage", name, None, opts)
        self._args = args

        self.model_version = version.value
        self.version_source = version.source
        # ECR tags are immutable, and the server code can change while the model does not: a tag of
        # the version alone would be pushed twice with different content and rejected the second time.
        suffix = digest[:_CONTENT_HASH_LENGTH]
        self.image_tag = version.value if version.source == "content" else f"{version.value}-{suffix}"
        build_args = {"MODEL_VERSION": version.value, **args.build_args}
        if metadata and isinstance(metadata.get("git_revision"), str):
            build_args.setdefault("GIT_REVISION", metadata["git_revision"])

        image = self._create_image(name, build_args)
        self.image_name = image.image_name
        self.image_ref = pulumi.Output.all(args.repository_url, image.repo_digest).apply(
            lambda parts: digest_reference(*parts))
        self.register_outputs({
            "image_ref": self.image_ref,
            "image_name": self.image_name,
            "model_version": self.model_version,
            "version_source": self.version_source,
            "image_tag": self.image_tag,
        })

    def _registry(self) -> Optional[docker.RegistryArgs]:
        a = self._args
        if a.ecr_registry_id is None:
            return None
        token = aws.ecr.get_authorization_token_output(
            registry_id=a.ecr_registry_id, opts=pulumi.InvokeOutputOptions(parent=self))
        return docker.RegistryArgs(
            server=pulumi.Output.from_input(a.repository_url).apply(lambda url: url.split("/", 1)[0]),
            username=token.user_name,
            password=pulumi.Output.secret(token.password),
        )

    def _create_image(self, name: str, build_args: dict[str, str]) -> docker.Image:
        a = self._args
        return docker.Image(
            f"{name}-image",
            image_name=pulumi.Output.from_input(a.repository_url).apply(lambda url: f"{url}:{self.image_tag}"),
            build=docker.DockerBuildArgs(
                context=a.context,
                # The provider reads `dockerfile` from the working directory, not from the context.
                dockerfile=os.path.join(a.context, a.dockerfile),
                target=a.variant,
                platform=a.platform,
                args=dict(sorted(build_args.items())),
                # The Dockerfile's `# syntax=` line and multi-stage targets need BuildKit.
                builder_version=docker.BuilderVersion.BUILDER_BUILD_KIT,
            ),
            registry=self._registry(),
            skip_push=False,
            opts=pulumi.ResourceOptions(parent=self),
        )


def digest_reference(repository_url: str, repo_digest: Optional[str]) -> str:
    """`repo_digest`, checked to name our repository by digest (Docker reports an image's first digest,
    which names another repository when the same image was pushed there before)."""
    if not repo_digest or not repo_digest.startswith(repository_url + "@") or not _DIGEST_SUFFIX_RE.search(repo_digest):
        raise ValueError(f"ModelImage: pushed image digest {repo_digest!r} is not {repository_url}@sha256:<64 hex>")
    return repo_digest
