"""Speed of spiking simulation, measured side by side in one process.

`run_benchmark` measures, after warm-up and in the same run:

- spiking throughput (image-steps per second) over batch sizes and ``n_steps``;
- the **dense ratio**: time of a spiking run divided by ``n_steps`` times the
  time of one forward pass of the same network with ReLU in place of every
  neuron (same batch): the cost of spiking against the linear work alone;
- the **roofline fraction**: the network's dense FLOPs per image-step times
  image-steps per second, divided by the FLOP/s of a large float32 matrix
  product measured in the same run;
- the time-batched engine against the step-by-step reference engine;
- the peak resident memory of the process.

Machines are noisy, so every ratio is taken from timings made minutes apart
at most, and each timing is the median of several repeats.
"""

from __future__ import annotations

import math
import os
import platform
import resource
import statistics
import time
import warnings

import numpy as np
import tensorflow as tf

from rateconv.network import SpikingNetwork
from rateconv.simulator import (
    FUSED_KERNELS_INSTALLED,
    ActivityWarning,
    Simulator,
    forward_graph,
    set_fused_kernels,
    set_int8_kernels,
)
from rateconv.tuning import convert


def _timeit(fn, *, min_seconds=1.0, min_repeats=3, max_repeats=50):
    """Median seconds per call of ``fn()``, after one warm-up call.

    Activity warnings are silenced (a speed run says nothing about accuracy);
    the spikes are still counted, as in a user's `Simulator.predict`.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ActivityWarning)
        fn()
        times = []
        start = time.perf_counter()
        while len(times) < min_repeats or (
            time.perf_counter() - start < min_seconds and len(times) < max_repeats
        ):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def dense_flops(network):
    """Multiply-add FLOPs (2 per MAC) of the network's linear layers per image.

    Counts every layer with a ``kernel`` (dense, convolutions): one MAC per
    kernel weight per output position.
    """
    flops = 0
    for stage in network.stages:
        kernel = getattr(stage.op, "kernel", None)
        if kernel is None:
            continue
        # dense, conv and depthwise alike: at each output position every
        # kernel weight is used once
        positions = math.prod(stage.output_shape[:-1])
        flops += 2 * positions * math.prod(kernel.shape)
    return flops


def relu_forward(network):
    """A compiled forward pass of ``network`` with ReLU in place of every neuron.

    The yardstick of the dense ratio: the same linear operations, the cheapest
    nonlinearity.  Compiled with ``tf.function`` as Keras' ``predict`` does.
    """

    def relu(stage, v):
        return tf.nn.relu(v) if stage.rate_neuron is not None else v

    return forward_graph(network, relu)


def matmul_gflops(n=2048, min_seconds=1.0):
    """GFLOP/s of an ``n x n`` float32 matrix product (the machine's roofline)."""
    rng = np.random.default_rng(0)
    a = tf.constant(rng.standard_normal((n, n), dtype=np.float32))
    b = tf.constant(rng.standard_normal((n, n), dtype=np.float32))
    matmul = tf.function(lambda: tf.matmul(a, b))
    seconds = _timeit(lambda: matmul().numpy(), min_seconds=min_seconds)
    return 2 * n**3 / seconds / 1e9


def peak_memory_mb():
    """Peak resident memory of this process so far, in MiB."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if platform.system() != "Darwin" else kb / 2**20


SPEED_FLAGS = (
    "avx2",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_bf16",
    "amx_int8",
)
"""The instruction sets that decide the simulator's speed (and its paths)."""


def instruction_sets():
    """Which of `SPEED_FLAGS` this CPU has, as one string (``"none"`` if
    none or unknown); AMX absent is worth saying: ``"no AMX"`` is appended."""
    from rateconv.simulator import cpu_flags

    flags = cpu_flags()
    found = [f for f in SPEED_FLAGS if f in flags]
    if not any(f.startswith("amx") for f in found):
        found.append("no AMX")
    return " ".join(found) if flags else "unknown (no /proc/cpuinfo)"


def machine_description():
    """CPU model, core count and instruction sets, for the report."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores [{instruction_sets()}]"


def _compare_engines(network, x, batch, n_steps, *, probe_synapse, min_seconds):
    """Seconds of the time-batched and the step engine on the first ``batch``."""
    xb = x[:batch]
    times = {}
    for engine in ("time_batched", "step"):
        sim = Simulator(network, minibatch_size=batch, progress=False, engine=engine)
        times[engine] = _timeit(
            lambda sim=sim: sim.predict(
                xb, n_steps=n_steps, probe_synapse=probe_synapse
            ),
            min_seconds=min_seconds,
        )
    return {
        "batch": batch,
        "n_steps": n_steps,
        "time_batched_s": times["time_batched"],
        "step_s": times["step"],
        "speedup": times["step"] / times["time_batched"],
    }


def _compare_variants(network, x, batch_sizes, n_steps, *, probe_synapse, min_seconds):
    """Seconds and dense ratios of the simulator's options, side by side.

    For each batch size: each precision of the spike-reading layers
    (float32, bfloat16, int8), and the fused CPU neuron kernels
    and int8 instructions (`rateconv.simulator.set_fused_kernels`,
    `set_int8_kernels`) on and off together: every fast path, which changes
    the speed and never the results.
    """
    rows = []
    forward = relu_forward(network)
    for batch in batch_sizes:
        xb = x[:batch]
        xt = tf.constant(xb)
        fwd = _timeit(lambda xt=xt: forward(xt)[0].numpy(), min_seconds=min_seconds)
        for precision in ("float32", "bfloat16", "int8"):
            for kernels in (False, True) if FUSED_KERNELS_INSTALLED else (False,):
                previous = set_fused_kernels(kernels)
                previous_int8 = set_int8_kernels(kernels)
                try:  # the kernels are chosen when the graphs are built
                    sim = Simulator(
                        network,
                        minibatch_size=batch,
                        progress=False,
                        precision=precision,
                    )
                    seconds = _timeit(
                        lambda sim=sim, xb=xb: sim.predict(
                            xb, n_steps=n_steps, probe_synapse=probe_synapse
                        ),
                        min_seconds=min_seconds,
                    )
                finally:
                    set_fused_kernels(previous)
                    set_int8_kernels(previous_int8)
                rows.append(
                    {
                        "batch": batch,
                        "n_steps": n_steps,
                        "precision": precision,
                        "kernels": kernels,
                        "seconds": seconds,
                        "dense_ratio": seconds / (n_steps * fwd),
                    }
                )
    return rows


def run_benchmark(
    network,
    x,
    *,
    batch_sizes=(1, 32, 200),
    n_steps=(10, 30, 100),
    probe_synapse=0.1,
    precision="float32",
    compare_batch=1,
    compare_steps=30,
    min_seconds=1.0,
    log=None,
    variants=True,
):
    """Measure simulation speed of ``network`` on images ``x``.

    Parameters
    ----------
    network : SpikingNetwork or keras.Model
        What to simulate (a Keras model is converted with default options).
    x : array, shape (n, *input_shape)
        Inputs; at least ``max(batch_sizes)`` of them (repeated if fewer).
    batch_sizes, n_steps : sequence of int
        The grid of throughput measurements.
    probe_synapse : float or None
        Output probe filter, as in `Simulator.predict`.
    precision : {"float32", "bfloat16"}
        Simulator precision of the throughput grid (the engine comparison is
        always float32, the step engine's only precision).
    compare_batch, compare_steps : int
        Setting of the time-batched against step-by-step engine comparison.
    min_seconds : float
        Each timing repeats for at least this long (median of the repeats).
    log : callable or None
        Called with a line of text as each measurement finishes.
    variants : bool
        Also time each precision with the fast paths on and off at
        ``compare_steps`` for each batch size above 1 (``variants``).

    Returns
    -------
    dict
        ``machine``, ``matmul_gflops``, ``dense_mflops_per_image``,
        ``runs`` (one dict per batch and n_steps: ``seconds``,
        ``image_steps_per_s``, ``dense_ratio``, ``roofline_fraction``),
        ``forward`` (seconds per ReLU forward pass per batch size),
        ``engines`` (step / time-batched seconds and their ratio) and
        ``peak_memory_mb``.
    """
    if not isinstance(network, SpikingNetwork):
        network = convert(network)
    tag = f" [{machine_description()}]"
    print_log = log or (lambda line: None)

    def log(line):
        print_log(line + tag)

    x = np.asarray(x, np.float32)
    if len(x) < max(batch_sizes):
        x = np.concatenate([x] * math.ceil(max(batch_sizes) / len(x)))

    gflops = matmul_gflops(min_seconds=min_seconds)
    flops = dense_flops(network)
    log(f"matmul {gflops:.1f} GFLOP/s; network {flops / 1e6:.1f} MFLOP per image")
    forward = relu_forward(network)
    result = {
        "machine": machine_description(),
        "tensorflow": tf.__version__,
        "matmul_gflops": gflops,
        "dense_mflops_per_image": flops / 1e6,
        "probe_synapse": probe_synapse,
        "precision": precision,
        "forward": {},
        "runs": [],
    }
    for batch in batch_sizes:
        xb = x[:batch]
        xt = tf.constant(xb)
        fwd = _timeit(lambda xt=xt: forward(xt)[0].numpy(), min_seconds=min_seconds)
        result["forward"][batch] = fwd
        log(f"batch {batch}: ReLU forward {fwd * 1e3:.2f} ms")
        sim = Simulator(
            network, minibatch_size=batch, progress=False, precision=precision
        )
        result["precision"] = sim.precision  # "auto" resolved
        for steps in n_steps:
            seconds = _timeit(
                lambda sim=sim, xb=xb, steps=steps: sim.predict(
                    xb, n_steps=steps, probe_synapse=probe_synapse
                ),
                min_seconds=min_seconds,
            )
            run = {
                "batch": batch,
                "n_steps": steps,
                "seconds": seconds,
                "image_steps_per_s": batch * steps / seconds,
                "dense_ratio": seconds / (steps * fwd),
                "roofline_fraction": flops * batch * steps / seconds / 1e9 / gflops,
            }
            result["runs"].append(run)
            log(
                f"batch {batch} x {steps} steps: "
                f"{run['image_steps_per_s']:.0f} image-steps/s, "
                f"dense ratio {run['dense_ratio']:.2f}, "
                f"roofline {run['roofline_fraction']:.2f}"
            )

    result["engines"] = _compare_engines(
        network,
        x,
        compare_batch,
        compare_steps,
        probe_synapse=probe_synapse,
        min_seconds=min_seconds,
    )
    log(
        f"engines at batch {compare_batch} x {compare_steps} steps: time-batched "
        f"{result['engines']['speedup']:.1f}x faster than step-by-step"
    )
    if variants:
        result["variants"] = _compare_variants(
            network,
            x,
            [b for b in batch_sizes if b > 1] or list(batch_sizes),
            compare_steps,
            probe_synapse=probe_synapse,
            min_seconds=min_seconds,
        )
        for row in result["variants"]:
            log(
                f"batch {row['batch']} x {row['n_steps']} steps, {row['precision']}, "
                f"kernels {'on' if row['kernels'] else 'off'}: dense ratio "
                f"{row['dense_ratio']:.2f}"
            )
    result["peak_memory_mb"] = peak_memory_mb()
    return result


def format_table(result):
    """The benchmark result as a text table."""
    lines = [
        f"machine: {result['machine']}; TensorFlow {result['tensorflow']}; "
        f"precision {result['precision']}",
        f"float32 matmul: {result['matmul_gflops']:.1f} GFLOP/s; network: "
        f"{result['dense_mflops_per_image']:.1f} MFLOP per image-step",
        "",
        f"{'batch':>5} {'steps':>5} {'image-steps/s':>14} {'dense ratio':>11} "
        f"{'roofline':>8}",
    ]
    for run in result["runs"]:
        lines.append(
            f"{run['batch']:>5} {run['n_steps']:>5} "
            f"{run['image_steps_per_s']:>14,.0f} {run['dense_ratio']:>11.2f} "
            f"{run['roofline_fraction']:>8.2f}"
        )
    e = result["engines"]
    lines += [
        "",
        f"time-batched vs step-by-step engine (batch {e['batch']}, "
        f"{e['n_steps']} steps): {e['speedup']:.1f}x "
        f"({e['time_batched_s'] * 1e3:.0f} ms vs {e['step_s'] * 1e3:.0f} ms)",
        f"peak resident memory: {result['peak_memory_mb']:.0f} MiB",
    ]
    if result.get("variants"):
        lines += [
            "",
            f"{'batch':>5} {'precision':>9} {'kernels':>7} {'dense ratio':>11}",
        ]
        for row in result["variants"]:
            kernels = "on" if row["kernels"] else "off"
            lines.append(
                f"{row['batch']:>5} {row['precision']:>9} {kernels:>7} "
                f"{row['dense_ratio']:>11.2f}"
            )
    return "\n".join(lines)
