"""The README is a front page; the reference lives in examples/guides/.

Every relative link in the README and the markdown pages under examples/
points at a file that exists, every guide and notebook is one click from the
README, and the README stays short.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
GUIDES = sorted((ROOT / "examples" / "guides").glob("*.md"))
NOTEBOOKS = sorted((ROOT / "examples" / "notebooks").glob("*.ipynb"))
PAGES = [README, *sorted((ROOT / "examples").rglob("*.md"))]
LINK = re.compile(r"\[[^\]]+\]\(([^)\s]+)\)")
MAX_README_LINES = 250


def relative_links(path):
    text = path.read_text()
    # links inside code blocks are code, not links
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    for target in LINK.findall(text):
        if not re.match(r"^(https?:|mailto:|#)", target):
            yield target.split("#", 1)[0]


@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path):
    missing = [t for t in relative_links(path) if not (path.parent / t).exists()]
    assert not missing, f"{path.relative_to(ROOT)} links to missing files: {missing}"


def test_readme_is_a_front_page():
    lines = README.read_text().splitlines()
    assert len(lines) < MAX_README_LINES, f"README.md has {len(lines)} lines"


def test_every_guide_and_notebook_is_linked_from_the_readme():
    linked = {(ROOT / t).resolve() for t in relative_links(README)}
    assert GUIDES and NOTEBOOKS
    unlinked = [p.name for p in GUIDES + NOTEBOOKS if p.resolve() not in linked]
    assert not unlinked, f"not linked from README.md: {unlinked}"


@pytest.mark.parametrize("path", GUIDES, ids=lambda p: p.name)
def test_guides_have_a_title_and_a_way_back(path):
    text = path.read_text()
    assert text.startswith("# "), f"{path.name}: starts with its '# ' title"
    assert "../../README.md" in text, f"{path.name}: links back to the README"
