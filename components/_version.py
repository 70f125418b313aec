"""The package version, in one place.

`pyproject.toml` reads it at build time (`[tool.setuptools.dynamic]`), the API
surface pin (`docs/api/surface.json`) records it, and the package re-exports it
as `gpu_model_platform.__version__`. Bump it by the rules in
`docs/compatibility.md`, with a `CHANGELOG.md` section for the new version.
This module imports nothing, so reading it never imports Pulumi.
"""

__version__ = "0.1.0"
