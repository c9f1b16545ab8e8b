"""Fixtures shared by several test modules; builders live in `tests.helpers`."""

import os

import pytest

from tests.helpers import tiny_model

# results that do not depend on the machine: precision="auto" means float32
# here (tests/test_precision.py checks "auto" itself); subprocesses inherit it
os.environ["RATECONV_PRECISION"] = "float32"


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    """`tests.helpers.tiny_model()` saved as a ``.keras`` file (do not modify it)."""
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    tiny_model().save(path)
    return path
