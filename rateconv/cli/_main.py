"""The ``rateconv`` parser (one sub-parser per verb module) and the entry point."""

from __future__ import annotations

import os
import sys

from rateconv import _logging
from rateconv._version import __version__
from rateconv.cli._common import UsageError, one_line
from rateconv.cli._options import ArgumentParser, add_option
from rateconv.cli.bench import add_parser as add_bench
from rateconv.cli.demo import add_parser as add_demo
from rateconv.cli.energy import add_parser as add_energy
from rateconv.cli.evaluate import add_parser as add_evaluate
from rateconv.cli.train import add_parser as add_train

# each verb module's sub-parser, in the order of ``rateconv --help``
VERBS = (add_demo, add_evaluate, add_bench, add_train, add_energy)


def build_parser():
    """The argument parser of ``rateconv`` with every verb's sub-parser."""
    parser = ArgumentParser(
        prog="rateconv",
        description="Convert trained Keras networks to spiking networks and "
        "evaluate them.",
    )
    parser.add_argument(
        "--version", action="version", version=f"rateconv {__version__}"
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for add_parser in VERBS:
        add_parser(subparsers)
    for verb in subparsers.choices.values():  # every verb, one declaration
        add_option(verb, "verbose")
    return parser


def main(argv=None):
    """Run the command line; returns the exit status (set RATECONV_DEBUG=1 for
    tracebacks instead of one-line errors)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help or a bad argument: return, not raise
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    if args.verbose:
        _logging.verbose()
    try:
        args.func(args)
    except (UsageError, ValueError, TypeError, FileNotFoundError) as e:
        if os.environ.get("RATECONV_DEBUG"):
            raise
        print(f"rateconv {args.command}: error: {one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0
