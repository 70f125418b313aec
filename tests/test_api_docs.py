"""The API reference: mkdocstrings renders every public name, the strict docs build passes, and
every public class, method and type in a signature is documented and public.

`mkdocs build --strict` (mkdocs.yml) is what fails on a broken link or cross-reference; the two
checks mkdocstrings does not make (a missing docstring renders as an empty entry, a private type
in a signature as plain text) are made here on griffe's reading of the package.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import griffe
import pytest

from tools.api_surface import load_package
from tools.synth import PROJECT_DIR

REFERENCE_PAGE = PROJECT_DIR / "docs" / "api" / "reference" / "index.md"


def _build(project: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                          cwd=project, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site")
    result = _build(PROJECT_DIR, site)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr[-4000:]}"
    return site


@pytest.fixture(scope="module")
def package() -> griffe.Module:
    return load_package()


def _exported(package: griffe.Module) -> dict[str, griffe.Object]:
    return {str(n): package.members[str(n)].final_target for n in package.exports or []}


def test_the_reference_renders_every_public_name_with_its_signature(site, package):
    html = (site / "api" / "reference" / "index.html").read_text()
    anchors = set(re.findall(r'id="components\.([A-Za-z_]\w*)"', html))
    exported = set(_exported(package))
    assert exported - anchors == set(), f"public names missing from the reference: {sorted(exported - anchors)}"
    assert anchors - exported == set(), f"private names in the reference: {sorted(anchors - exported)}"
    service = html[html.index('id="components.ModelServiceArgs"'):]
    assert 'id="components.ModelServiceArgs.image"' in service and "doc-signature" in service
    assert "Image reference by digest" in service, "field docstrings are rendered"


def test_the_reference_page_is_in_the_site_navigation_and_the_adopter_pages_link_to_it():
    config = (PROJECT_DIR / "mkdocs.yml").read_text()
    assert "API reference: api/reference/index.md" in config and re.search(r"^::: components$",
                                                                          REFERENCE_PAGE.read_text(), re.MULTILINE)
    for page in ("README.md", "docs/getting-started.md", "docs/api/README.md"):
        assert "reference/index.md" in (PROJECT_DIR / page).read_text(), page


def test_every_public_class_function_and_method_has_a_docstring(package):
    missing = []
    for name, obj in _exported(package).items():
        if not obj.docstring:
            missing.append(name)
        if obj.is_class:
            missing += [f"{name}.{m}" for m, member in obj.members.items()
                        if member.is_function and not m.startswith("_") and not member.docstring]
    assert not missing, f"public names without a docstring (the reference would show nothing): {missing}"


def _annotation_names(annotation: object) -> list[griffe.ExprName]:
    if not isinstance(annotation, griffe.Expr):
        return []
    return [part for part in annotation.iterate(flat=True) if isinstance(part, griffe.ExprName)]


def test_every_type_in_a_public_signature_is_public(package):
    # Adopters could only build such an argument by importing a private module.
    exported, problems = _exported(package), set()
    for name, obj in exported.items():
        functions = [obj] if obj.is_function else [m for m in obj.members.values() if m.is_function
                                                     and (m.name == "__init__" or not m.name.startswith("_"))]
        annotations = [p.annotation for f in functions for p in f.parameters] + [f.returns for f in functions]
        annotations += [m.annotation for m in obj.members.values() if m.is_attribute and not m.name.startswith("_")]
        for expr in annotations:
            for ref in _annotation_names(expr):
                path = ref.canonical_path
                if not path.startswith(f"{package.path}.") or path.rsplit(".", 1)[-1] in exported:
                    continue
                target = package.modules_collection.get_member(path) if path.count(".") >= 2 else None
                if target is not None and target.is_class:
                    problems.add(f"{path} (in {name})")
    assert not problems, f"private classes in public signatures; export them: {sorted(problems)}"


def test_a_broken_cross_reference_fails_the_strict_build(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(PROJECT_DIR / "docs", project / "docs")
    shutil.copytree(PROJECT_DIR / "components", project / "components")
    shutil.copy(PROJECT_DIR / "mkdocs.yml", project / "mkdocs.yml")
    page = project / "docs" / "api" / "reference" / "index.md"
    page.write_text(page.read_text().replace("::: components", "See [the widget][components.NoSuchWidget].\n\n"
                                             "::: components"))
    result = _build(project, tmp_path / "site")
    assert result.returncode != 0 and "components.NoSuchWidget" in result.stderr, result.stderr[-2000:]


# ---- the published site ------------------------------------------------------------------------

DOCS_WORKFLOW = PROJECT_DIR / ".github" / "workflows" / "docs.yml"


def _docs_workflow() -> dict:
    import yaml

    return yaml.safe_load(DOCS_WORKFLOW.read_text())


def _pages_url() -> str:
    import tomllib

    source = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"]["urls"]["Source"]
    owner, repository = source.removeprefix("https://github.com/").split("/")
    return f"https://{owner}.github.io/{repository}/"


def test_a_workflow_builds_the_site_strictly_and_publishes_what_it_built_to_github_pages():
    import yaml

    workflow = _docs_workflow()
    assert workflow[True] == {"push": {"branches": ["main"]}, "workflow_dispatch": None}
    assert workflow["permissions"] == {} and workflow["concurrency"]["cancel-in-progress"] is False
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    runs = "\n".join(s.get("run", "") for s in build["steps"])
    site_dir = re.search(r"mkdocs build --strict --site-dir (\S+)", runs)
    assert site_dir, "the published site is built with --strict"
    [upload] = [s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact@")]
    assert upload["with"]["path"] == site_dir.group(1)
    assert f"id=\"components.ModelService\"' {site_dir.group(1)}/api/reference/index.html" in runs, (
        "the build fails when the reference renders no classes")
    assert build["permissions"] == {"contents": "read"}
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert deploy["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    assert [s["uses"].split("@")[0] for s in deploy["steps"]] == ["actions/deploy-pages"]
    # The plugins installed are the pinned ones the tests build with.
    pinned = {line.split("==")[0] for line in (PROJECT_DIR / "requirements-dev.txt").read_text().splitlines()
              if line.startswith(("mkdocs", "griffelib"))}
    assert pinned == set(re.search(r"\^\((.*?)\)==", runs).group(1).split("|")), pinned
    assert yaml.safe_load((PROJECT_DIR / "mkdocs.yml").read_text())["strict"] is True


def test_the_readme_links_the_published_reference():
    assert f"]({_pages_url()}api/reference/)" in (PROJECT_DIR / "README.md").read_text()
