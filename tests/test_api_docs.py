"""The API reference: every public name documented with an example that runs,
and the README's pdoc command builds the browsable docs without a warning."""

import doctest
import inspect
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import rateconv

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# functions documented in the reference beyond rateconv.__all__, with examples
EXTRA = ["rateconv.metrics.spike_counts", "rateconv.metrics.unfilter"]


def public_objects():
    """``(name, object)`` of every class and function rateconv exports."""
    out = []
    for name in rateconv.__all__:
        obj = getattr(rateconv, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            out.append((name, obj))
    for dotted in EXTRA:
        module, _, attr = dotted.rpartition(".")
        out.append((dotted, getattr(sys.modules[module], attr)))
    return out


OBJECTS = public_objects()


def test_every_export_is_checked():
    # constants (DT, TAU_RC, TAU_REF, __version__) carry source docstrings
    # for pdoc; everything else is a class or a function checked below
    constants = {n for n in rateconv.__all__ if not (callable(getattr(rateconv, n)))}
    assert constants <= {"DT", "TAU_RC", "TAU_REF", "__version__"}, constants
    assert len(OBJECTS) >= 40


@pytest.mark.parametrize("name,obj", OBJECTS, ids=[n for n, _ in OBJECTS])
def test_numpy_docstring_with_an_example(name, obj):
    doc = inspect.getdoc(obj)
    assert doc, f"{name} has no docstring"
    summary = doc.splitlines()[0]
    assert summary.strip() and len(summary) <= 88, f"{name}: one-line summary"
    # "Examples" (numpydoc's name; "Example" is read the same by pdoc)
    section = re.search(r"^Examples?\n-{7,8}\n", doc, re.M)
    assert section and ">>> " in doc[section.end() :], (
        f"{name}: numpy-style 'Examples' section with a >>> example"
    )
    # numpy section headers are underlined with dashes of the same length
    for header, underline in re.findall(r"^(\w[\w ]*)\n(-{3,})$", doc, re.M):
        assert len(header) == len(underline), f"{name}: underline of {header!r}"


@pytest.mark.filterwarnings("ignore::rateconv.ActivityWarning")
@pytest.mark.parametrize("name,obj", OBJECTS, ids=[n for n, _ in OBJECTS])
def test_examples_run(name, obj):
    finder = doctest.DocTestFinder(recurse=False)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    runner = doctest.DocTestRunner(optionflags=flags)
    # as doctest runs a module's examples: with the module's names in scope
    module = inspect.getmodule(obj)
    tests = finder.find(obj, name, module=module, globs=dict(vars(module)))
    assert tests and tests[0].examples, f"{name}: no doctest examples"
    for test in tests:
        runner.run(test, out=lambda s: None)  # failures are counted below
    result = runner.summarize(verbose=False)
    if result.failed:
        report = []
        for test in tests:  # run again, collecting the report
            doctest.DocTestRunner(optionflags=flags).run(test, out=report.append)
        pytest.fail(f"{name}: {result.failed} example(s) failed\n" + "".join(report))


def readme_pdoc_command():
    """The one ``pdoc ...`` line of the README's bash blocks, as arguments."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)
    lines = [
        line.strip()
        for block in blocks
        for line in block.splitlines()
        if "pdoc " in line and shlex.split(line)[0].endswith("pdoc")
    ]
    assert len(lines) == 1, f"README should hold one pdoc command, found {lines}"
    return shlex.split(lines[0])


def test_api_reference_builds_without_warnings(tmp_path):
    args = readme_pdoc_command()
    out = args.index("-o") + 1
    assert args[out] == "docs/api", args  # .gitignore'd
    args[out] = str(tmp_path / "api")
    run = subprocess.run(
        [sys.executable, "-m", "pdoc", *args[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    # pdoc reports problems (unimportable modules, unresolved links, repeated
    # modules) as "Warn: ..." lines on stderr; the reference must have none
    warnings = [line for line in run.stderr.splitlines() if "Warn" in line]
    assert not warnings, "\n".join(warnings)
    modules = [a for a in args[1:] if a.startswith("rateconv")]
    for module in modules:
        page = tmp_path / "api" / (module.replace(".", "/") + ".html")
        assert page.is_file(), page
    index = (tmp_path / "api" / "rateconv.html").read_text()
    for name in ("convert", "Simulator", "export_nir", "load_pretrained"):
        assert f'id="{name}"' in index, name
