"""The documentation stands alone: nothing refers to files outside the repository, the README
stays a short front page whose links land on real pages, and the site in docs/ builds strictly.

This is about the documentation site built by `make docs` (mkdocs, from docs/), not the
interactive /docs of the running app (tests/operations/test_docs_browser.py).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README_MAX_LINES = 220

# Built from parts so that this file does not match its own patterns.
OUTSIDE = re.compile(
    "|".join(
        [
            re.escape("API" + ".md"),  # the old product contract, kept outside the repository
            re.escape("STYLE" + ".md"),  # the old style guide, likewise
            re.escape(".." + "/shared"),  # the steering folder beside the checkout
        ]
    )
)
SKIPPED_DIRS = {
    ".git",
    ".venv",
    "node_modules",
    "site",
    "build",
    "dist",
    ".data",
    ".bench",
    ".mypy_cache",
    ".ruff_cache",
}


def tracked_files() -> list[Path]:
    """The files git tracks, or, outside a git checkout, every file but generated ones."""
    git = shutil.which("git")
    if git and (ROOT / ".git").exists():
        out = subprocess.run(
            [git, "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
        ).stdout.decode()
        return [ROOT / name for name in out.split("\0") if name]
    return [
        path
        for path in ROOT.rglob("*")
        if path.is_file()
        and not any(part in SKIPPED_DIRS or part.endswith(".egg-info") for part in path.relative_to(ROOT).parts)
    ]


def text_of(path: Path) -> str | None:
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None  # deleted in the work tree but still in the index
    if b"\0" in data[:8192]:
        return None  # binary (the screenshot)
    return data.decode("utf-8", errors="replace")


def test_no_file_refers_outside_the_repository() -> None:
    offenders = []
    for path in tracked_files():
        text = text_of(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "refer to a page in docs/ instead:\n" + "\n".join(offenders)


def test_the_pattern_catches_what_it_should() -> None:
    for line in ("see API" + ".md §6", "STYLE" + ".md practice 8", "[contract](.." + "/shared/x)"):
        assert OUTSIDE.search(line)
    assert not OUTSIDE.search("see docs/permissions.md")


def test_readme_is_a_short_front_page() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines: move the detail into docs/"


def headings_anchors(markdown: str) -> set[str]:
    """The ids mkdocs gives the headings of a page (outside code blocks)."""
    anchors, fenced = set(), False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (match := re.match(r"#{1,6} (.+)", line)):
            text = re.sub(r"[`*]", "", match.group(1)).strip().lower()
            text = re.sub(r"[^\w\s-]", "", text)
            anchors.add(re.sub(r"[\s]+", "-", text).strip("-"))
    return anchors


def test_readme_links_into_docs_land_on_real_pages_and_headings() -> None:
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\((docs/[^)#\s]+)(?:#([^)\s]+))?\)", readme)
    assert links, "the README should link into docs/"
    for target, anchor in links:
        page = ROOT / target
        assert page.is_file(), f"README links to {target}, which does not exist"
        if anchor:
            assert anchor in headings_anchors(page.read_text()), f"README links to {target}#{anchor}: no such heading"


def test_every_page_is_in_the_navigation() -> None:
    config = (ROOT / "mkdocs.yml").read_text()
    pages = {path.name for path in (ROOT / "docs").glob("*.md")}
    listed = set(re.findall(r":\s*([\w-]+\.md)\s*$", config, flags=re.MULTILINE))
    assert pages == listed, f"pages not in nav: {pages - listed}; nav entries without a page: {listed - pages}"


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    mkdocs = Path(sys.executable).with_name("mkdocs")
    assert mkdocs.exists(), "mkdocs is not installed (it comes with the dev extras: make install)"
    result = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "docs-screenshot.png").is_file()
