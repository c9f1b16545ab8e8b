"""The wheel carries every subpackage and the shipped networks."""

from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_subpackage_is_listed():
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "rateconv").rglob("__init__.py")
    }
    assert found <= listed, f"add to pyproject packages: {sorted(found - listed)}"


def test_pretrained_networks_travel_as_package_data():
    setuptools = _pyproject()["tool"]["setuptools"]
    assert setuptools["package-dir"]["rateconv._pretrained"] == "pretrained"
    patterns = setuptools["package-data"]["rateconv._pretrained"]
    shipped = {p.name for p in (ROOT / "pretrained").iterdir() if p.is_file()}
    covered = {
        name for name in shipped if any(Path(name).match(pat) for pat in patterns)
    }
    assert covered == shipped, f"not in the wheel: {sorted(shipped - covered)}"
