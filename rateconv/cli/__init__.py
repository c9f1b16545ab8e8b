"""Command line: ``rateconv demo | evaluate | bench | train`` (also ``python -m
rateconv``).

One module per verb (`demo`, `evaluate`, `bench`, `train`), each with an
``add_parser(subparsers)`` and its ``cmd_<verb>(args)``; `_options` declares
every option once, `_common` holds what the verbs share (loading models, one
evaluation run, the error table), `_data` the evaluated data (``--data``,
built-in sets, their checks against the model), `_figures` the figures.
Only this package prints and writes files; everything it calls returns data.
"""

from rateconv.cli._common import CURVE_STEPS, UsageError
from rateconv.cli._main import build_parser, main
from rateconv.cli._options import CONVERT_OPTIONS
from rateconv.cli.bench import cmd_bench
from rateconv.cli.demo import cmd_demo
from rateconv.cli.evaluate import cmd_evaluate
from rateconv.cli.train import cmd_train

__all__ = [
    "CONVERT_OPTIONS",
    "CURVE_STEPS",
    "UsageError",
    "build_parser",
    "cmd_bench",
    "cmd_demo",
    "cmd_evaluate",
    "cmd_train",
    "main",
]
