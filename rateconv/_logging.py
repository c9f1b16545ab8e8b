"""Keep TensorFlow's log lines off the user's stderr, unless they ask for them.

Three sources write TensorFlow log lines, and each needs its own switch:

1. C++ logging (``I0000 ... port.cc:153] oneDNN custom operations are on``,
   ``W0000 ... op_level_cost_estimator.cc:699] Error in PredictCost() for the
   op: Softmax``, the XLA start-up lines).  TensorFlow reads
   ``TF_CPP_MIN_LOG_LEVEL`` once, when it loads, and hands it to absl's
   minimum log level, so setting it later does nothing: `quiet_tensorflow`
   sets it before TensorFlow loads, or, when the user imported TensorFlow (or
   Keras) first, sets absl's level itself (`set_cpp_log_level`).
2. Messages logged while TensorFlow's shared libraries load, before absl is
   initialized: the oneDNN banner, printed once by ``libtensorflow_framework``
   and once more by the profiler plugin.  They ignore
   ``TF_CPP_MIN_LOG_LEVEL`` (even at 3), so `quiet_tensorflow` imports
   TensorFlow with file descriptor 2 captured and writes back every line that
   is not a TensorFlow log line at a filtered level (Python warnings and
   errors pass).  oneDNN itself stays on: ``TF_ENABLE_ONEDNN_OPTS`` changes
   speed, not only the message.
3. Python loggers (``WARNING:tensorflow:5 out of the last 5 calls ...
   triggered tf.function retracing``, ``absl``): set to the same level.

Importing this module does it (``rateconv/__init__.py`` imports it first).
The user's own ``TF_CPP_MIN_LOG_LEVEL`` is respected (0 shows everything);
the command line's ``--verbose`` calls `verbose`, which also writes back the
start-up lines that were held back.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile

LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"
#: TensorFlow's C++ log level rateconv sets unless the user set one: errors only.
QUIET_LEVEL = 2
# absl's line header: severity letter, MMDD, time, thread, file:line]
_HEADER = re.compile(r"^([IWEF])\d{4} [\d:.]+ +\d+ [^\]]+\] ")
_BANNER = "WARNING: All log messages before absl::InitializeLog() is called"
_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}
# absl::SetMinLogLevel(absl::LogSeverityAtLeast); the inline namespace
# (lts_YYYYMMDD) changes with absl releases, so the symbol is looked up
_SET_MIN_LOG_LEVEL = re.compile(
    rb"_ZN4absl(?:\d+lts_\d+)?14SetMinLogLevelENS\w{0,3}?18LogSeverityAtLeastE"
)

#: The start-up lines held back while TensorFlow loaded (`verbose` writes them).
held_back: list[str] = []


def _level():
    """The C++ log level in effect: the environment's, as TensorFlow reads it."""
    try:
        return int(os.environ.get(LEVEL_ENV, "0"))
    except ValueError:
        return 0


def _keep(line, level):
    """Whether a start-up line shows at `level` (TF_CPP_MIN_LOG_LEVEL)."""
    if line.startswith(_BANNER):
        return level == 0
    match = _HEADER.match(line)
    return match is None or _SEVERITY[match.group(1)] >= level


def quiet_tensorflow():
    """Load TensorFlow with its log lines at ``TF_CPP_MIN_LOG_LEVEL`` (default 2).

    Called by ``import rateconv`` before anything imports TensorFlow.  Sets
    the variable unless the user did; if TensorFlow is loaded already, sets
    its C++ log level directly (best effort).
    """
    user_set = LEVEL_ENV in os.environ
    os.environ.setdefault(LEVEL_ENV, str(QUIET_LEVEL))
    level = _level()
    if level == 0:
        return
    if "tensorflow" in sys.modules:
        if not user_set:
            set_cpp_log_level(level)
    else:
        _import_holding_back(level)
    # after the import: TensorFlow's get_logger() sets INFO in an interactive
    # shell the first time it is called
    sys.modules["tensorflow"].get_logger().setLevel(_python_level(level))
    logging.getLogger("absl").setLevel(_python_level(level))


def _python_level(level):
    return (logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL)[
        min(max(level, 0), 3)
    ]


def _import_holding_back(level):
    """``import tensorflow`` with fd 2 captured; write back what shows at `level`."""
    try:
        saved = os.dup(2)
    except OSError:  # no usable stderr (e.g. pythonw): nothing to keep clean
        import tensorflow  # noqa: F401

        return
    with tempfile.TemporaryFile(mode="w+b") as capture:
        sys.stderr.flush()
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", "replace")
            for line in text.splitlines(keepends=True):
                if _keep(line, level):
                    sys.stderr.write(line)
                else:
                    held_back.append(line)
            sys.stderr.flush()


def set_cpp_log_level(level):
    """Set TensorFlow's C++ log level in a running process; True if it worked.

    ``TF_CPP_MIN_LOG_LEVEL`` is read once, when TensorFlow loads; this calls
    absl's ``SetMinLogLevel`` in ``libtensorflow_framework`` instead.  Best
    effort: False where the library or the symbol is not found.
    """
    try:
        import ctypes

        tf = sys.modules["tensorflow"]
        directory = os.path.dirname(tf.__file__)
        names = [n for n in os.listdir(directory) if n.startswith("libtensorflow_fr")]
        for name in names:
            path = os.path.join(directory, name)
            with open(path, "rb") as f:
                match = _SET_MIN_LOG_LEVEL.search(f.read())
            if match is None:
                continue
            function = getattr(ctypes.CDLL(path), match.group().decode())
            function.argtypes = [ctypes.c_int]
            function(int(min(max(level, 0), 3)))
            return True
    except Exception:  # noqa: BLE001 - logging is never worth failing for
        return False
    return False


def verbose():
    """Show every TensorFlow log line from now on, and the held-back start-up ones."""
    os.environ[LEVEL_ENV] = "0"
    logging.getLogger("absl").setLevel(logging.NOTSET)
    if "tensorflow" in sys.modules:
        sys.modules["tensorflow"].get_logger().setLevel(logging.NOTSET)
        set_cpp_log_level(0)
    for line in held_back:
        sys.stderr.write(line)
    held_back.clear()
    sys.stderr.flush()


quiet_tensorflow()
