"""Run rateconv's NIR export of the shipped network in Norse, a real NIR reader.

Run with rateconv's Python, from the repository root::

    .venv/bin/python examples/benchmarks/nir_consumer.py                 # 1000 images
    .venv/bin/python examples/benchmarks/nir_consumer.py --n-images 200 --n-steps 10

What it does:

1. converts the shipped network (``rateconv.load_pretrained()``, its
   manifest's conversion options) and exports it with ``rateconv.export_nir(
   net, approximate_refractory=True, approximate_voltage=True)`` (NIR has no
   refractory period, voltage floor or initial voltage: see
   ``rateconv.nir``);
2. runs rateconv on the first ``--n-images`` Fashion-MNIST test images: the
   network itself, and the exported graph read back with
   ``rateconv.import_nir`` (what the graph means in rateconv's discretisation);
3. creates Norse's own virtual environment (torch CPU wheel, norse, nir,
   nirtorch; default ``~/.cache/rateconv/norse-venv``, or ``--venv``), or
   reuses it; if that fails it says why and exits with status 2;
4. runs the graph there with Norse's NIR importer (``nirtorch.load`` with
   Norse's node map, as ``norse.torch.from_nir(graph, dt=0.001)`` does; Norse
   1.1.0 on PyPI has no ``LI`` mapping, so ``LI`` maps to Norse's
   ``LIBoxCell`` as Norse's repository's importer does) in three forms: as
   written; with the weights that read spikes times ``1 / dt`` (Norse's
   convention: a spike is the value 1 in its step, area ``dt``, where NIR's
   is a delta of area 1); every form has ``Flatten`` count Norse's batch
   axis; and with, in addition, each ``tau`` replaced by ``dt / (1 -
   exp(-dt / tau))``, which makes Norse's forward-Euler step decay as the
   exact exponential rateconv (and NIR's equations) use;
5. prints a table: accuracy (running mean of the output probe, the network's
   readout), agreement of Norse's class with rateconv's imported graph, and
   per spiking layer the spike count relative to rateconv's and the fraction
   of neurons with the same spike count on the first ``--n-compare`` images.

Torch and Norse live only in that environment, never in rateconv's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

MARKER = ".rateconv-norse-venv"
DEFAULT_VENV = Path("~/.cache/rateconv/norse-venv")
CHECK = "import norse.torch, nir, nirtorch, torch; print(torch.__version__)"
DT = 0.001
SPIKING_LAYERS = ("lif1", "lif2", "lif3")


# ---------------------------------------------------------------- the venv


def venv_python(venv):
    if os.name == "nt":
        return Path(venv) / "Scripts" / "python.exe"
    return Path(venv) / "bin" / "python"


def clean_env():
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env["PYTHONNOUSERSITE"] = "1"
    return env


def check_venv(venv):
    """None if ``venv`` imports Norse, else the reason it does not."""
    python = venv_python(venv)
    if not python.exists():
        return f"{python} does not exist"
    proc = subprocess.run(
        [str(python), "-c", CHECK], capture_output=True, text=True, env=clean_env()
    )
    return None if proc.returncode == 0 else proc.stderr.strip().splitlines()[-1:]


def _pip(python, args):
    cmd = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    return subprocess.run(cmd + args, capture_output=True, text=True, env=clean_env())


def ensure_venv(venv):
    """The Python of a virtual environment with Norse (created on demand)."""
    venv = Path(venv).expanduser().resolve()
    if check_venv(venv) is None:
        print(f"Norse environment: {venv} (reused)")
        return venv_python(venv)
    if venv.exists() and not (venv / MARKER).exists():
        sys.exit(
            f"{venv} exists but is not an environment this script made; "
            "pass --venv with a new directory."
        )
    shutil.rmtree(venv, ignore_errors=True)
    print(f"Creating Norse's virtual environment in {venv} (torch CPU, norse, nir)")
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    (venv / MARKER).write_text("created by rateconv's nir_consumer.py\n")
    python = venv_python(venv)
    cpu = ["--index-url", "https://download.pytorch.org/whl/cpu"]
    proc = _pip(python, ["torch", "torchvision", *cpu])
    if proc.returncode != 0:
        print("torch's CPU index failed; trying PyPI's torch wheel")
        proc = _pip(python, ["torch", "torchvision"])
    if proc.returncode == 0:
        proc = _pip(python, ["norse", "nir", "nirtorch"])
    problem = check_venv(venv) if proc.returncode == 0 else proc.stderr[-2000:]
    if problem is not None:
        print(
            f"Could not make a Norse environment in {venv}: {problem}\n"
            "Norse needs torch (a ~200 MB wheel) from PyPI or the PyTorch index; "
            "check the connection and pip's configuration (pip config list).",
            file=sys.stderr,
        )
        sys.exit(2)
    return python


# -------------------------------------------------------- rateconv's side


def run_rateconv(args, workdir):
    import numpy as np

    import rateconv
    from rateconv import datasets
    from rateconv.zoo.models import prepare_images
    from rateconv.zoo.pretrained import conversion_options

    model = rateconv.load_pretrained(args.model)
    net = rateconv.convert(model, **conversion_options(args.model))
    path = workdir / "net.nir"
    rateconv.export_nir(
        net, path, approximate_refractory=True, approximate_voltage=True
    )
    _, (x, y) = datasets.load_dataset("fashion_mnist", path=args.data_dir)
    x, y = prepare_images(x[: args.n_images]), y[: args.n_images]
    np.savez(workdir / "data.npz", x=np.moveaxis(x, -1, 1), y=y)
    imported = rateconv.import_nir(path)
    results = {}
    for label, network in (("rateconv", net), ("rateconv, NIR graph", imported)):
        sim = rateconv.Simulator(network, warn_activity=False)
        out = sim.predict(x, n_steps=args.n_steps, readout="mean")
        per_image = {layer: [] for layer in SPIKING_LAYERS}
        for i in range(args.n_compare):  # per-neuron counts of the first images
            e = sim.evaluate(x[i : i + 1], y[i : i + 1], n_steps=args.n_steps)
            for layer in SPIKING_LAYERS:
                rates = e.activity[layer].rates  # Hz, channels last
                per_image[layer].append(np.rint(rates * args.n_steps * DT))
        counts = {}
        for layer, c in per_image.items():
            c = np.stack(c).reshape(args.n_compare, *network[layer].output_shape)
            counts[layer] = np.moveaxis(c, -1, 1)
        results[label] = {"classes": out[:, -1].argmax(-1), "counts": counts}
    return results, y


# ------------------------------------------------------------ Norse's side


def worker(workdir, n_steps, n_compare):
    """Runs in Norse's environment: the graph in three forms; writes npz."""
    import copy
    import functools

    import nir
    import nirtorch
    import numpy as np
    import torch
    from norse.torch.module.leaky_integrator_box import LIBoxCell, LIBoxParameters
    from norse.torch.utils.import_nir import _import_norse_module

    def norse_module(node, dt):
        # Norse 1.1.0 (PyPI) has no LI mapping; its repository's importer maps
        # LI to LIBoxCell (forward Euler), as done here
        if isinstance(node, nir.LI):
            tau_inv = torch.as_tensor(1 / np.asarray(node.tau), dtype=torch.float32)
            v_leak = torch.as_tensor(np.asarray(node.v_leak), dtype=torch.float32)
            return LIBoxCell(LIBoxParameters(tau_mem_inv=tau_inv, v_leak=v_leak), dt=dt)
        return _import_norse_module(node, ignore_warnings=True, dt=dt)

    data = np.load(workdir / "data.npz")
    x = torch.from_numpy(data["x"]).float()
    graph = nir.read(workdir / "net.nir")
    spiking = (nir.LIF, nir.IF)

    def reads_spikes(g, name):
        preds = [s for s, d in g.edges if d == name]
        for p in preds:
            node = g.nodes[p]
            if isinstance(node, spiking):
                return True
            if isinstance(node, (nir.LI, nir.SumPool2d, nir.Flatten, nir.Scale)):
                if reads_spikes(g, p):
                    return True
        return False

    def norse_units(g):
        g = copy.deepcopy(g)
        for name, node in g.nodes.items():
            if isinstance(node, (nir.Affine, nir.Conv2d)) and reads_spikes(g, name):
                node.weight = node.weight / DT  # a Norse spike has area dt
            if isinstance(node, nir.Flatten):
                node.start_dim += 1  # torch.nn.Flatten counts the batch axis
        return g

    def euler_matched(g):
        g = norse_units(g)
        for node in g.nodes.values():
            if isinstance(node, (nir.LIF, nir.LI)):
                node.tau = DT / (1 - np.exp(-DT / node.tau))
        return g

    forms = {
        "Norse, graph as written": graph,
        "Norse, spike area dt": norse_units(graph),
        "Norse, spike area dt, Euler-matched tau": euler_matched(graph),
    }
    out = {}
    for label, g in forms.items():
        g = copy.deepcopy(g)
        if label == "Norse, graph as written":
            for node in g.nodes.values():
                if isinstance(node, nir.Flatten):
                    node.start_dim += 1  # else torch flattens the batch
        # nirtorch 2.x names its modules with "." replaced; give it such names
        g = nir.NIRGraph(
            nodes={k.replace(".", "_"): v for k, v in g.nodes.items()},
            edges=[(a.replace(".", "_"), b.replace(".", "_")) for a, b in g.edges],
        )
        module = nirtorch.load(g, functools.partial(norse_module, dt=DT))
        counts = {n: [] for n in SPIKING_LAYERS}
        hooks = []
        for name, sub in module.named_modules():
            if name in SPIKING_LAYERS:
                hooks.append(
                    sub.register_forward_hook(
                        lambda m, i, o, name=name, c=counts: c[name].append(
                            o[0].detach()
                        )
                    )
                )
        classes = []
        with torch.no_grad():
            for start in range(0, len(x), 100):
                xb, state, total = x[start : start + 100], None, 0
                for name in counts:
                    counts[name] = []
                for _ in range(n_steps):
                    y, state = module(xb, state)
                    total = total + y
                classes.append(total.argmax(-1).numpy())
                if start == 0:
                    first = {
                        n: torch.stack(c).sum(0)[:n_compare].numpy()
                        for n, c in counts.items()
                    }
        for h in hooks:
            h.remove()
        out[label] = {"classes": np.concatenate(classes), "counts": first}
    np.save(workdir / "norse.npy", out, allow_pickle=True)


# --------------------------------------------------------------- the report


def report(results, y):
    import numpy as np

    reference = results["rateconv, NIR graph"]
    rows = [
        "| run | accuracy | same class as rateconv's NIR graph | "
        + " | ".join(f"{n} spikes (same count)" for n in SPIKING_LAYERS)
        + " |",
        "|---|---|---|" + "---|" * len(SPIKING_LAYERS),
    ]
    for label, r in results.items():
        acc = np.mean(r["classes"] == y)
        agree = np.mean(r["classes"] == reference["classes"])
        cells = []
        for n in SPIKING_LAYERS:
            ref, c = reference["counts"][n], r["counts"][n]
            ratio = c.sum() / max(ref.sum(), 1)
            cells.append(f"{ratio:.3f}x ({np.mean(c == ref):.1%})")
        rows.append(
            f"| {label} | {acc:.2%} | {agree:.2%} | " + " | ".join(cells) + " |"
        )
    return "\n".join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="fashion_mnist_softlif")
    parser.add_argument("--n-images", type=int, default=1000)
    parser.add_argument("--n-steps", type=int, default=30)
    parser.add_argument("--n-compare", type=int, default=10)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--venv", default=str(DEFAULT_VENV))
    parser.add_argument("--json", default=None, help="also write the table here")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(Path(args.worker), args.n_steps, args.n_compare)
        return 0
    python = ensure_venv(args.venv)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        results, y = run_rateconv(args, workdir)
        cmd = [str(python), __file__, "--worker", tmp, "--n-steps", str(args.n_steps)]
        cmd += ["--n-compare", str(args.n_compare)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=clean_env())
        if proc.returncode != 0:
            print(
                f"Norse could not run the graph:\n{proc.stderr[-3000:]}",
                file=sys.stderr,
            )
            return 2
        import numpy as np

        norse_results = np.load(workdir / "norse.npy", allow_pickle=True).item()
    results.update(norse_results)
    table = report(results, y)
    print(
        f"{args.model}, {args.n_images} Fashion-MNIST test images, {args.n_steps} "
        f"steps of {DT * 1000:g} ms; spike counts on the first {args.n_compare}"
    )
    print(table)
    if args.json:
        Path(args.json).write_text(json.dumps({"table": table}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
