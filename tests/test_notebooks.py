"""The notebooks in examples/notebooks/: committed clean, and they run.

Each notebook is executed top to bottom in a fresh Jupyter kernel (nbclient,
the runner Jupyter's own ``nbconvert --execute`` uses) with the settings its
first cell names, from a temporary directory; any error in any cell fails the
test.  The kernel is this interpreter (a kernelspec written for the test, so a
``python3`` kernel installed elsewhere is never picked up) and inherits this
process's environment (``RATECONV_PRECISION=float32`` from conftest).

Deselect with ``-m 'not notebooks'`` (the four take 2-4 minutes on 2 cores).
With ``RATECONV_NOTEBOOK_OUT=DIR`` the executed notebooks, outputs and
figures included, are written to DIR (to look at the plots).
"""

import ast
import json
import os
import sys
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "examples" / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
KERNEL = "rateconv-notebook-test"
CELL_TIMEOUT = 600  # seconds per cell, far above what any cell needs


def code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def read(path):
    return json.loads(path.read_text())


def without_magics(source):
    return "\n".join(
        line for line in source.splitlines() if not line.lstrip().startswith("%")
    )


def test_there_are_notebooks():
    names = [p.name for p in NOTEBOOKS]
    assert len(names) >= 4, names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    # outputs are made by running, never committed: diffs stay readable and
    # nothing stale is shown as a result
    nbformat = pytest.importorskip("nbformat")
    nbformat.validate(nbformat.read(path, as_version=4))
    for i, cell in enumerate(code_cells(read(path))):
        assert cell["outputs"] == [], f"{path.name} code cell {i} has outputs"
        assert cell["execution_count"] is None, f"{path.name} code cell {i}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_code_cell_names_the_settings(path):
    # the small settings the test runs with, named where a reader raises them
    first = without_magics("".join(code_cells(read(path))[0]["source"]))
    tree = ast.parse(first)
    names = [
        t.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    ]
    assert names and all(n.isupper() for n in names), (path.name, names)
    assert all(isinstance(n, ast.Assign) for n in tree.body), path.name


@pytest.fixture(scope="module")
def kernel_path(tmp_path_factory):
    """A JUPYTER_PATH holding a kernelspec that runs this interpreter."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec.joinpath("kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"})
    )
    return root


def plotting_cells(nb):
    return [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code"
        and ("display(" in c.source or "plt.show()" in c.source)
    ]


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path, kernel_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_path))
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name=KERNEL,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    try:
        client.execute()  # raises CellExecutionError naming the cell on any error
    finally:
        if os.environ.get("RATECONV_NOTEBOOK_OUT"):
            out = Path(os.environ["RATECONV_NOTEBOOK_OUT"])
            out.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, out / path.name)
    # every cell that draws shows its figure inline, as a PNG
    for i in plotting_cells(nb):
        kinds = [o.get("data", {}).keys() for o in nb.cells[i].outputs]
        assert any("image/png" in k for k in kinds), f"{path.name} cell {i}: no figure"
    # nothing went to stderr unexpectedly (TensorFlow's log lines, tracebacks)
    for i, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("name") == "stderr":
                assert "Traceback" not in output["text"], (path.name, i)
                assert "oneDNN" not in output["text"], (path.name, i, output["text"])
