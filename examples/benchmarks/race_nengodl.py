"""Race rateconv against NengoDL 3.6: same network, images, batch and n_steps.

Run with rateconv's Python, from the repository root::

    .venv/bin/python examples/benchmarks/race_nengodl.py            # full race
    .venv/bin/python examples/benchmarks/race_nengodl.py --n-images 200 --n-steps 5

What it does:

1. loads a Keras 3 soft-LIF network (default: the shipped pretrained one,
   ``rateconv.load_pretrained()``; ``--model PATH`` for another ``.keras`` file)
   and the first ``--n-images`` Fashion-MNIST test images;
2. exports the layers and weights to an ``.npz`` in a temporary directory;
3. creates NengoDL's own virtual environment (NengoDL 3.6.0 does not run on
   Keras 3: it needs TensorFlow 2.12, Keras 2 and numpy < 2), or reuses it
   (default ``~/.cache/rateconv/nengodl-venv``, or ``--venv``); if that fails it
   says why and exits with status 2;
4. runs ``_nengodl_worker.py`` in that environment: the same network written
   natively in NengoDL (``nengo_dl.Layer`` conv/pool/dense layers,
   ``nengo.LIF`` ensembles with the same max rates and intercepts, as in
   NengoDL's spiking-MNIST example), spiking inference with
   ``inference_only=True``, with and without a 5 ms synapse on the connections
   leaving neuron layers, probe synapse 0.1 s;
5. runs rateconv on the same images and settings, in this process;
6. races the time to evaluate the images at a spiking accuracy within 1 point
   of each tool's own rate-mode accuracy, each at its best settings: rateconv
   tuned for each step budget of ``--tuned-steps`` (one-call conversion on
   1,000 training images), NengoDL's fastest run that gets there
   (`_time_to_accuracy.py`);
7. prints a table: accuracy at the last step, warm image-steps/s (build and
   the first, compiling minibatch excluded; the fastest of ``--repeats`` timed
   runs), each tool's cost relative to a plain Keras ReLU forward pass of the
   same network ("x dense": time per image-step / time per image forward), and
   rateconv's speed-up.

It also checks that the weights were mapped right: NengoDL's rate-mode network
(``nengo.LIFRate``) must give the outputs of rateconv's rate mode with the same
LIF rate neurons, and about the accuracy of the Keras model (which uses the
soft-LIF curve).

NengoDL's LIF neurons start at a voltage drawn uniformly in [0, 1) (Nengo's
default), rateconv's at 0 (its default); rows with ``v0 = uniform`` run rateconv
with ``convert(..., initial_state="uniform")``, the like-for-like accuracy.

This script is not part of the test suite: it installs about 1 GB of packages
and takes about 45 minutes on two CPU cores with the defaults.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import rateconv  # noqa: E402
from rateconv import datasets, metrics  # noqa: E402
from rateconv.zoo.models import prepare_images  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _time_to_accuracy as tta  # noqa: E402

tf.get_logger().setLevel("ERROR")  # retracing notes from each new Simulator

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_nengodl_worker.py"
DEFAULT_VENV = (
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    / "rateconv"
    / "nengodl-venv"
)
MARKER = ".rateconv-nengodl"
"""File marking a virtual environment this script created (and may replace)."""
CONSTRAINTS = ("tensorflow==2.12.1", "keras==2.12.0", "numpy==1.23.5", "protobuf<4.22")
# NengoDL 3.6 imports keras.engine (gone from Keras 2.13 on); its setup.py
# imports pkg_resources, hence the old setuptools and --no-build-isolation.
INSTALL_STEPS = (
    ("-c", "{constraints}", "wheel", "setuptools==65.5.0"),
    (
        "-c",
        "{constraints}",
        "tensorflow==2.12.1",
        "nengo==3.2.0",
        "jinja2",
        "packaging",
        "progressbar2",
    ),
    ("--no-deps", "--no-build-isolation", "nengo-dl==3.6.0"),
)
CHECK = (
    "import nengo_dl, nengo, tensorflow; "
    "assert nengo_dl.__version__ == '3.6.0', nengo_dl.__version__; "
    "print(nengo_dl.__version__, nengo.__version__, tensorflow.__version__)"
)


class NengoDLUnavailable(RuntimeError):
    """NengoDL's environment could not be found, created or run."""


# ------------------------------------------------------------ the environment


def venv_python(venv):
    """Path of the Python interpreter inside a virtual environment."""
    if os.name == "nt":
        return Path(venv) / "Scripts" / "python.exe"
    return Path(venv) / "bin" / "python"


def clean_env():
    """Environment for subprocesses of another virtual environment."""
    env = dict(os.environ)
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"):
        env.pop(name, None)
    env["PYTHONNOUSERSITE"] = "1"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def _tail(text, n=25):
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join("    " + line for line in lines[-n:])


def check_venv(venv):
    """``None`` if ``venv`` runs NengoDL 3.6, else the reason it does not."""
    python = venv_python(venv)
    if not python.exists():
        return f"{python} does not exist"
    proc = subprocess.run(
        [str(python), "-c", CHECK],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=600,
    )
    if proc.returncode:
        return f"importing nengo_dl failed:\n{_tail(proc.stderr, 8)}"
    return None


def _run_step(cmd, what, hint=""):
    print(f"  $ {' '.join(cmd)}", flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=clean_env())
    if proc.returncode:
        raise NengoDLUnavailable(
            f"{what} failed (exit status {proc.returncode}):\n"
            f"{_tail(proc.stdout + proc.stderr)}\n{hint}".rstrip()
        )


def ensure_venv(venv, base_python):
    """Return the Python of a working NengoDL 3.6 environment, creating it.

    Parameters
    ----------
    venv : Path
        The environment's directory; created (or re-created, if this script
        made it and it is broken) when it does not run NengoDL.
    base_python : str
        Interpreter to create it with; TensorFlow 2.12 needs Python 3.8-3.11.

    Raises
    ------
    NengoDLUnavailable
        With the reason, when the environment cannot be made to work.
    """
    venv = Path(venv).expanduser().resolve()
    problem = check_venv(venv)
    if problem is None:
        print(f"NengoDL environment: {venv} (reused)")
        return venv_python(venv)
    if venv.exists():
        if not (venv / MARKER).exists():
            raise NengoDLUnavailable(
                f"{venv} exists but is not a working NengoDL 3.6 environment "
                f"({problem}), and this script did not create it, so it leaves it "
                "alone. Remove it, or pass --venv with a new directory."
            )
        print(f"NengoDL environment {venv} is broken ({problem}); re-creating it.")
        shutil.rmtree(venv)

    proc = subprocess.run(
        [base_python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        env=clean_env(),
    )
    if proc.returncode:
        raise NengoDLUnavailable(f"Cannot run --base-python {base_python!r}.")
    version = tuple(int(v) for v in proc.stdout.split(".")) if proc.stdout else ()
    if not (3, 8) <= version <= (3, 11):
        raise NengoDLUnavailable(
            f"NengoDL 3.6 needs TensorFlow 2.12, which has wheels for Python 3.8 to "
            f"3.11 only; {base_python} is Python {proc.stdout.strip()}. Pass "
            "--base-python with a Python 3.8-3.11 interpreter (e.g. python3.11)."
        )

    print(
        f"Creating NengoDL's virtual environment in {venv} (NengoDL 3.6.0, "
        "TensorFlow 2.12.1, numpy 1.23.5; about 1 GB, a few minutes) ...",
        flush=True,
    )
    venv.parent.mkdir(parents=True, exist_ok=True)
    _run_step([base_python, "-m", "venv", str(venv)], "Creating the environment")
    (venv / MARKER).write_text("created by rateconv's race_nengodl.py\n")
    constraints = venv / "constraints.txt"
    constraints.write_text("\n".join(CONSTRAINTS) + "\n")
    pip = [str(venv_python(venv)), "-m", "pip", "install", "-q"]
    pip += ["--disable-pip-version-check"]
    for step in INSTALL_STEPS:
        args = [a.format(constraints=constraints) for a in step]
        _run_step(
            pip + args,
            "pip install",
            hint="The packages come from the package index: check the network "
            "connection and pip's configuration (pip config list).",
        )
    problem = check_venv(venv)
    if problem is not None:
        raise NengoDLUnavailable(f"The new environment does not work: {problem}")
    return venv_python(venv)


# ------------------------------------------------------------ the network


def export_network(model):
    """Describe a chain of layers the NengoDL worker can rebuild.

    Parameters
    ----------
    model : keras.Model
        Conv2D / Dense (linear activation), `rateconv.SoftLIF`,
        AveragePooling2D and Flatten layers, one after the other.

    Returns
    -------
    spec : dict
        ``input_shape`` and ``layers`` (type, config, output shape, neuron
        parameters), JSON-serializable.
    weights : dict of str to numpy.ndarray
        ``"<index>_kernel"`` and ``"<index>_bias"`` for weighted layers.
    """
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(
            "The race needs a model with one input and one output. Received: "
            f"{len(model.inputs)} inputs, {len(model.outputs)} outputs"
        )
    layers = [
        layer
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer)
    ]
    spec = {"input_shape": list(model.inputs[0].shape[1:]), "layers": []}
    weights = {}
    previous = model.inputs[0]
    for i, layer in enumerate(layers):
        kind = type(layer).__name__
        if layer.input is not previous:
            raise ValueError(
                f"Layer '{layer.name}' does not follow the previous layer: the race "
                "handles chains of layers only."
            )
        previous = layer.output
        cfg = layer.get_config()
        entry = {
            "index": i,
            "name": layer.name,
            "type": kind,
            "output_shape": list(layer.output.shape[1:]),
            "config": {},
        }
        if cfg.get("data_format", "channels_last") != "channels_last":
            raise ValueError(f"Layer '{layer.name}': only channels_last is handled.")
        if kind in ("Conv2D", "Dense"):
            if cfg.get("activation", "linear") != "linear":
                raise ValueError(
                    f"Layer '{layer.name}' ({kind}) has activation "
                    f"{cfg['activation']!r}; the race handles linear layers "
                    "followed by rateconv.SoftLIF."
                )
            if cfg.get("groups", 1) != 1:
                raise ValueError(f"Layer '{layer.name}': grouped convolution.")
            keys = ["use_bias"]
            keys += (
                ["filters", "kernel_size", "strides", "padding", "dilation_rate"]
                if kind == "Conv2D"
                else ["units"]
            )
            entry["config"] = {k: cfg[k] for k in keys}
            weights[f"{i}_kernel"] = np.asarray(layer.kernel)
            if cfg["use_bias"]:
                weights[f"{i}_bias"] = np.asarray(layer.bias)
        elif kind == "AveragePooling2D":
            entry["config"] = {k: cfg[k] for k in ("pool_size", "strides", "padding")}
        elif isinstance(layer, rateconv.SoftLIF):
            n = layer.neuron
            entry["type"] = "SoftLIF"
            entry["neuron"] = {
                "tau_rc": n.tau_rc,
                "tau_ref": n.tau_ref,
                "amplitude": n.amplitude,
                "gain": n.gain,
                "bias": n.bias,
                "max_rate": layer.max_rate,
                "intercept": layer.intercept,
            }
        elif kind != "Flatten":
            raise ValueError(
                f"Layer '{layer.name}' ({kind}) is not handled by the race; it "
                "rebuilds Conv2D, Dense, SoftLIF, AveragePooling2D and Flatten."
            )
        spec["layers"].append(entry)
    return spec, weights


def hard_lif_swaps(model):
    """``swap_activations`` giving each SoftLIF layer exact LIF neurons."""
    return {
        layer.name: layer.neuron.as_spiking()
        for layer in model.layers
        if isinstance(layer, rateconv.SoftLIF)
    }


def relu_copy(model):
    """The same network with ReLU instead of soft-LIF: the dense floor."""

    def clone(layer):
        if isinstance(layer, rateconv.SoftLIF):
            return keras.layers.ReLU(name=layer.name)
        return type(layer).from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


# ------------------------------------------------------------ measuring


def dense_floor(model, x, batch, repeats=3):
    """Images/s of a plain Keras ReLU forward pass, best of ``repeats``."""
    relu = relu_copy(model)
    forward = tf.function(lambda v: relu(v, training=False))
    n = len(x) // batch * batch
    batches = [tf.constant(x[i : i + batch]) for i in range(0, n, batch)]
    forward(batches[0]).numpy()
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for b in batches:
            forward(b).numpy()
        best = min(best, time.perf_counter() - t0)
    return n / best


def race_rateconv(model, x, y, *, synapse, initial_state, steps, batch, probe, repeats):
    """Warm rateconv runs: one result per ``n_steps``."""
    t0 = time.perf_counter()
    kwargs = {"synapse": synapse}
    if initial_state is not None:
        kwargs["initial_state"] = initial_state
    net = rateconv.convert(model, **kwargs)
    sim = rateconv.Simulator(net, minibatch_size=batch, progress=False)
    build_s = time.perf_counter() - t0
    results = []
    for n_steps in steps:
        # predict, as the NengoDL worker does: the probe over every step, no
        # firing-rate statistics (evaluate also counts spikes per neuron)
        t0 = time.perf_counter()
        sim.predict(x[:batch], n_steps=n_steps, probe_synapse=probe)
        warmup_s = time.perf_counter() - t0
        times = []
        for _ in range(repeats):  # others may share the CPU: best of n
            t0 = time.perf_counter()
            out = sim.predict(x, n_steps=n_steps, probe_synapse=probe)
            times.append(time.perf_counter() - t0)
        elapsed = min(times)
        acc = 1 - metrics.classification_errors(out, y)
        results.append(
            {
                "synapse": synapse,
                "initial_state": initial_state or "zero",
                "n_steps": n_steps,
                "accuracy": float(acc[-1]),
                "accuracy_per_step": [float(a) for a in acc],
                "build_s": build_s,
                "warmup_s": warmup_s,
                "elapsed_s": elapsed,
                "elapsed_s_all": times,
                "image_steps_per_s": len(x) * n_steps / elapsed,
            }
        )
        print(
            f"  rateconv synapse={synapse} v0={initial_state or 'zero'} "
            f"n_steps={n_steps}: accuracy {acc[-1]:.4f}, "
            f"{results[-1]['image_steps_per_s']:.0f} image-steps/s",
            flush=True,
        )
    return results


def run_worker(python, data_path, out_dir, args, synapses):
    """Run the NengoDL worker; its results as a dict and its rate outputs."""
    out, outputs = out_dir / "nengodl.json", out_dir / "nengodl_rate.npz"
    cmd = [str(python), str(WORKER), "--data", str(data_path), "--out", str(out)]
    cmd += ["--outputs", str(outputs), "--batch", str(args.batch)]
    cmd += ["--n-steps", *map(str, args.n_steps), "--probe-synapse", str(args.probe)]
    cmd += ["--synapses", *synapses, "--unroll", str(args.unroll)]
    cmd += ["--repeats", str(args.repeats)]
    proc = subprocess.run(cmd, env=clean_env())
    if proc.returncode:
        raise NengoDLUnavailable(
            f"The NengoDL worker failed (exit status {proc.returncode}); its "
            "output is above."
        )
    with np.load(outputs) as f:
        rate = f["rate"]
    return json.loads(out.read_text()), rate


# ------------------------------------------------------------ report


def machine():
    """CPU model and core count, for the record."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} logical cores"


class CpuShare:
    """CPU time other processes use while this one runs (Linux ``/proc/stat``).

    Timings are only comparable on an otherwise idle machine; this says how
    idle it was.
    """

    def __init__(self):
        self.start = self._sample()

    @staticmethod
    def _sample():
        try:
            fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        except OSError:
            return None
        ticks = [int(v) for v in fields]
        # user nice system idle iowait irq softirq steal: busy = all but idle/iowait
        busy = (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
        t = os.times()
        own = t.user + t.system + t.children_user + t.children_system
        return time.monotonic(), busy, own

    def others(self):
        """Fraction of all cores that other processes kept busy so far."""
        end = self._sample()
        if self.start is None or end is None:
            return None
        wall = end[0] - self.start[0]
        other = (end[1] - self.start[1]) - (end[2] - self.start[2])
        return max(0.0, other) / (wall * (os.cpu_count() or 1))


def _syn(s):
    return "none" if s is None else f"{s:g} s"


def table(results, dense_ips):
    """The race as a Markdown table (a list of lines)."""
    nengo = {(r["synapse"], r["n_steps"]): r for r in results["nengodl"]["runs"]}
    rows = [("NengoDL 3.6", "uniform", r) for r in results["nengodl"]["runs"]]
    rows += [("rateconv", r["initial_state"], r) for r in results["rateconv"]]
    rows.sort(key=lambda t: (t[2]["synapse"] or 0, t[2]["n_steps"]))
    lines = [
        "| tool | connection synapse | v0 | n_steps | accuracy | image-steps/s "
        "| x dense | rateconv / NengoDL |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for tool, v0, r in rows:
        ips = r["image_steps_per_s"]
        ref = nengo.get((r["synapse"], r["n_steps"]))
        ratio = (
            f"{ips / ref['image_steps_per_s']:.1f}x"
            if tool == "rateconv" and ref
            else ""
        )
        lines.append(
            f"| {tool} | {_syn(r['synapse'])} | {v0} | {r['n_steps']} | "
            f"{100 * r['accuracy']:.2f}% | {ips:,.0f} | {dense_ips / ips:.1f} | "
            f"{ratio} |"
        )
    return lines


def default_base_python():
    """This interpreter if TensorFlow 2.12 has wheels for it, else one on PATH."""
    if (3, 8) <= sys.version_info[:2] <= (3, 11):
        return sys.executable
    for minor in (11, 10, 9, 8):
        found = shutil.which(f"python3.{minor}")
        if found:
            return found
    return sys.executable  # ensure_venv explains why it cannot be used


def parse_args(argv=None):
    """Command-line options (see ``--help``)."""
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", help="a .keras file (default: the pretrained network)")
    p.add_argument("--n-images", type=int, default=2000, help="first N test images")
    p.add_argument("--n-steps", type=int, nargs="+", default=[10, 30])
    p.add_argument("--batch", type=int, default=200, help="minibatch size, both")
    p.add_argument(
        "--synapse",
        type=float,
        default=0.005,
        help="connection synapse of the second race (s); 0 races without only",
    )
    p.add_argument("--probe", type=float, default=0.1, help="probe synapse (s)")
    p.add_argument(
        "--repeats",
        type=int,
        default=2,
        help="timed runs of each setting, both tools; the fastest counts (2)",
    )
    p.add_argument(
        "--unroll",
        type=int,
        default=1,
        help="NengoDL's unroll_simulation (default 1, its default; must divide "
        "every n_steps)",
    )
    p.add_argument(
        "--tuned-steps",
        type=int,
        nargs="*",
        default=[5, 10, 15, 20, 30, 50],
        help="step budgets of the time-to-accuracy race: rateconv tuned for each "
        "(one-call conversion on 1,000 training images), smallest first, until "
        "one is within 1 point of its rate accuracy; none to skip that race",
    )
    p.add_argument("--venv", default=str(DEFAULT_VENV), help="NengoDL's environment")
    p.add_argument(
        "--base-python",
        default=default_base_python(),
        help="Python 3.8-3.11 to create the environment with (default: this one "
        "if it fits, else python3.11, 3.10 ... on PATH)",
    )
    p.add_argument("--json", help="also write all results to this JSON file")
    args = p.parse_args(argv)
    if args.n_images < 1 or args.n_images % args.batch:
        p.error(
            "--n-images must be a positive multiple of --batch (NengoDL's "
            f"minibatches are fixed). Received: --n-images {args.n_images}, "
            f"--batch {args.batch}"
        )
    if min(args.n_steps) < 1:
        p.error(f"--n-steps must be >= 1. Received: {args.n_steps}")
    if args.repeats < 1:
        p.error(f"--repeats must be >= 1. Received: {args.repeats}")
    if args.unroll < 1 or any(n % args.unroll for n in args.n_steps):
        p.error(
            "--unroll must divide every --n-steps. Received: "
            f"--unroll {args.unroll}, --n-steps {args.n_steps}"
        )
    return args


def load_model(path):
    """The Keras model to race and a description of where it came from."""
    if path:
        return rateconv.load_model(path), str(path)
    try:
        model = rateconv.load_pretrained()
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(
            f"No usable pretrained network ({e}). Pass --model PATH.keras."
        ) from e
    return model, f"rateconv.load_pretrained() ({rateconv.zoo.pretrained.DEFAULT_NAME})"


def load_images(n):
    """The first ``n`` Fashion-MNIST test images (full set, else the sample)."""
    try:
        _, (x, y) = datasets.load_dataset("fashion_mnist", download=False)
        source = "Fashion-MNIST test set"
    except (FileNotFoundError, OSError, ValueError):
        _, (x, y) = datasets.load_dataset("fashion_mnist_sample")
        source = "shipped Fashion-MNIST test sample"
    if n > len(x):
        raise SystemExit(f"--n-images {n} exceeds the {len(x)} images of the {source}")
    return prepare_images(x[:n]), np.asarray(y[:n]).astype(np.int64), source


def main(argv=None):
    """Run the race and print the table; exit status 2 if NengoDL cannot run."""
    args = parse_args(argv)
    model, model_name = load_model(args.model)
    x, y, source = load_images(args.n_images)
    synapses = [None] + ([args.synapse] if args.synapse > 0 else [])
    spec, weights = export_network(model)
    started = datetime.datetime.now(datetime.timezone.utc)
    print(f"Model: {model_name}\nImages: first {len(x)} of the {source}")
    print(f"Machine: {machine()}; started {started:%Y-%m-%d %H:%M} UTC")
    results = {
        "date": f"{started:%Y-%m-%d %H:%M} UTC",
        "machine": machine(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "model": model_name,
        "images": f"first {len(x)} of the {source}",
        "batch": args.batch,
        "n_steps": args.n_steps,
        "probe_synapse": args.probe,
        "nengodl_unroll_simulation": args.unroll,
        "repeats": args.repeats,
    }

    cpu = CpuShare()
    with tempfile.TemporaryDirectory(prefix="race_nengodl_") as tmp:
        tmp = Path(tmp)
        data_path = tmp / "race.npz"
        np.savez(data_path, spec=json.dumps(spec), images=x, labels=y, **weights)
        try:
            python = ensure_venv(args.venv, args.base_python)
            print("Racing NengoDL (in its own environment) ...", flush=True)
            results["nengodl"], nengo_rate = run_worker(
                python,
                data_path,
                tmp,
                args,
                ["none" if s is None else str(s) for s in synapses],
            )
        except (NengoDLUnavailable, subprocess.SubprocessError, OSError) as e:
            print(f"\nCANNOT RACE NENGODL: {e}", file=sys.stderr)
            print("The race was not run.", file=sys.stderr)
            return 2

    print("Racing rateconv (in this process) ...", flush=True)
    keras_out = model.predict(x, batch_size=args.batch, verbose=0)
    lif = rateconv.Simulator(
        rateconv.convert(model, swap_activations=hard_lif_swaps(model)),
        minibatch_size=args.batch,
        progress=False,
    )
    lif_out = lif.predict(x, mode="rate")
    scale = float(np.max(np.abs(lif_out)))
    results["check"] = {
        "keras_softlif_accuracy": float(np.mean(keras_out.argmax(-1) == y)),
        "rateconv_lifrate_accuracy": float(np.mean(lif_out.argmax(-1) == y)),
        "nengodl_lifrate_accuracy": results["nengodl"]["rate_accuracy"],
        "max_abs_diff_nengodl_rateconv_lifrate": float(
            np.max(np.abs(nengo_rate - lif_out))
        ),
        "output_scale": scale,
        "argmax_agreement": float(np.mean(nengo_rate.argmax(-1) == lif_out.argmax(-1))),
    }
    results["rateconv"] = []
    for synapse in synapses:
        for v0 in (None, "uniform"):
            results["rateconv"] += race_rateconv(
                model,
                x,
                y,
                synapse=synapse,
                initial_state=v0,
                steps=args.n_steps,
                batch=args.batch,
                probe=args.probe,
                repeats=args.repeats,
            )
    if args.tuned_steps:
        print("Time to accuracy (rateconv tuned per step budget) ...", flush=True)
        # calibration images from the training set, never the test images
        (x_train, _), _ = datasets.load_dataset("fashion_mnist", download=False)
        results["time_to_accuracy"] = {
            "rateconv": tta.rateconv_time_to_accuracy(
                model,
                x,
                y,
                prepare_images(x_train[:1000]),
                steps=args.tuned_steps,
                batch=args.batch,
                probe=args.probe,
                repeats=args.repeats,
            ),
            "nengodl": tta.nengodl_time_to_accuracy(results["nengodl"], len(x)),
        }
    dense_ips = dense_floor(model, x, args.batch)
    results["dense_images_per_s"] = dense_ips
    results["cpu_share_of_other_processes"] = others = cpu.others()
    results["table"] = table(results, dense_ips)

    c = results["check"]
    print(f"\n{results['date']}, {results['machine']}")
    print(f"Model: {model_name}; images: {results['images']}")
    print(
        f"Batch {args.batch}, probe synapse {args.probe:g} s, dt 1 ms; "
        f"NengoDL {results['nengodl']['versions']['nengo_dl']} (TensorFlow "
        f"{results['nengodl']['versions']['tensorflow']}), rateconv "
        f"{rateconv.__version__} (TensorFlow {tf.__version__}, Keras "
        f"{keras.__version__})\n"
    )
    print(
        f"Rate mode: Keras soft-LIF {100 * c['keras_softlif_accuracy']:.2f}%, "
        f"rateconv LIFRate {100 * c['rateconv_lifrate_accuracy']:.2f}%, NengoDL "
        f"LIFRate {100 * c['nengodl_lifrate_accuracy']:.2f}%; NengoDL vs rateconv "
        f"LIFRate outputs: max |diff| {c['max_abs_diff_nengodl_rateconv_lifrate']:.2g}"
        f" (outputs up to {scale:.3g}), same class for "
        f"{100 * c['argmax_agreement']:.2f}% of images"
    )
    print(
        f"Dense floor (Keras ReLU forward, batch {args.batch}): {dense_ips:,.0f} "
        f"images/s here; tf.keras 2.12 in NengoDL's environment: "
        f"{results['nengodl']['dense_images_per_s']:,.0f} images/s\n"
    )
    print("\n".join(results["table"]))
    if "time_to_accuracy" in results:
        r = results["time_to_accuracy"]
        print("\n" + "\n".join(tta.table(r["rateconv"], r["nengodl"], len(x))))
    if others is not None:
        print(f"\nOther processes used {100 * others:.1f}% of the CPU during the race.")
        if others > 0.05:
            print(
                "WARNING: the machine was not idle; the timings are too low, "
                "unevenly for the two tools. Re-run on an idle machine."
            )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nResults written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
