"""The repository is self-contained: no file points outside it, and every docs link resolves."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from helpers.workflow import REPO

# Spelled in pieces so that this file does not match itself.
OUTSIDE = [re.compile(p) for p in (r"agem" + r"-paper\.md", r"\.\./" + r"shared/", r"shared/" + r"reference")]
DOC_REFERENCE = re.compile(r"((?:\.\./)*docs/[\w./-]+\.md)#([\w-]+)")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    files = []
    for name in names:
        path = REPO / name
        if path.is_file() and path.suffix not in {".png", ".pdf", ".gz", ".h5", ".whl"}:
            files.append(path)
    return files


def heading_slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\s-]", "", heading.strip().lower())
    return re.sub(r"\s", "-", text)


def anchors_of(markdown: Path) -> set[str]:
    text = markdown.read_text(encoding="utf-8")
    explicit = set(re.findall(r'<a id="([\w-]+)"', text)) | set(re.findall(r"\{#([\w-]+)\}", text))
    headings = {heading_slug(h) for h in re.findall(r"^#+\s+(.*?)\s*(?:\{#[\w-]+\})?$", text, flags=re.M)}
    return explicit | headings


@pytest.mark.parametrize("path", tracked_text_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_reference_points_outside_the_repository(path):
    text = path.read_text(encoding="utf-8", errors="replace")
    for pattern in OUTSIDE:
        assert not pattern.search(text), f"{path.relative_to(REPO)} refers to {pattern.pattern}, which is not in the repository"


def test_every_docs_anchor_resolves():
    broken = []
    for path in tracked_text_files():
        for target, anchor in DOC_REFERENCE.findall(path.read_text(encoding="utf-8", errors="replace")):
            doc = (path.parent / target) if target.startswith("..") else REPO / target
            if not doc.is_file() or anchor not in anchors_of(doc):
                broken.append(f"{path.relative_to(REPO)}: {target}#{anchor}")
    assert not broken, "broken docs links:\n" + "\n".join(broken)


def test_every_relative_markdown_link_resolves():
    broken = []
    for path in (p for p in tracked_text_files() if p.suffix == ".md"):
        for link in MARKDOWN_LINK.findall(path.read_text(encoding="utf-8")):
            target = link.split("#")[0]
            if not target or re.match(r"^[a-z]+:", target) or target.startswith("results/"):
                continue  # a web address, an anchor of the same page, or an output of a run
            if not (path.parent / target).exists():
                broken.append(f"{path.relative_to(REPO)}: {link}")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_the_detector_sees_a_reference_outside():
    """The first test would pass vacuously if its patterns matched nothing."""
    sample = "see ../" + "shared/" + "reference/agem" + "-paper.md §3"
    assert all(pattern.search(sample) for pattern in OUTSIDE)
    assert DOC_REFERENCE.findall("docs/decisions.md#cv-tasks") == [("docs/decisions.md", "cv-tasks")]


# Conda's names for the packages PyPI names otherwise.
CONDA_NAMES = {"torch": "pytorch", "snakemake": "snakemake-minimal"}


def conda_requirements(env_file: Path) -> dict[str, str]:
    """name -> version specifier of a conda environment file's conda packages."""
    import yaml

    listed = yaml.safe_load(env_file.read_text(encoding="utf-8"))["dependencies"]
    found = {}
    for entry in listed:
        if isinstance(entry, str):
            name = re.split(r"[<>=!]", entry, maxsplit=1)[0].strip()
            found[name] = entry[len(name):].strip()
    return found


@pytest.mark.parametrize("env_file", ["environment.yml", "workflow/envs/agem.yaml"])
def test_conda_environments_list_every_dependency_of_the_package(env_file):
    import tomllib

    declared = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    listed = conda_requirements(REPO / env_file)
    missing, different = [], []
    for requirement in declared:
        name = re.split(r"[<>=!\s]", requirement, maxsplit=1)[0]
        version = requirement[len(name):].split("#")[0].strip()
        conda_name = CONDA_NAMES.get(name, name)
        if env_file == "environment.yml" and conda_name == "snakemake-minimal":
            conda_name = "snakemake"  # the user's environment runs Snakemake itself
        if conda_name not in listed:
            missing.append(conda_name)
        elif listed[conda_name] != version:
            different.append(f"{conda_name}: {listed[conda_name]} vs pyproject's {version}")
    assert not missing and not different, f"{env_file}: missing {missing}, other versions {different}"
