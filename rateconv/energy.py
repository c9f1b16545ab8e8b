"""Energy per inference, from the spikes a network actually emits.

`energy` runs a converted network on real inputs with `rateconv.Simulator`,
counts every neuron's spikes, and reports per layer and in total:

- **neuron updates**: every spiking neuron is updated once per step
  (``n_neurons * n_steps`` per inference), as synchronous neuromorphic
  chips (Loihi, SpiNNaker) do;
- **synaptic operations** (synops): each spike is delivered to every neuron
  it connects to, so a layer's synops are ``sum_i spikes_i * fan_out_i``
  over its neurons ``i``.  The fan-out is exact per neuron: it is the number
  of (path to a) neuron or output the spike reaches through the linear
  layers up to the next spiking layer, computed as the gradient of the sum of
  those layers' inputs with every weight replaced by 1 where it is nonzero
  (and pooling by a sum), so the edges of "same" padding, strides and
  depthwise groups count what they connect.  (Where pooling windows overlap,
  a neuron reaching one output through two windows counts twice.)  A layer's
  synops are on the row of the layer that emits the spikes.  A neuron that
  fires ``n`` spikes in one step (graded spikes: integrate-and-fire neurons
  converted without ``max_spikes_per_step=1``) counts ``n`` spikes and ``n``
  synops per target, what a chip taking one-bit spikes has to deliver; each
  row says the most spikes one of its neurons fired in a step
  (``max_spikes_per_step``), and the report names the layers above 1;
- **MACs of the rate network**: the multiply-accumulates of its Dense and
  convolution layers (``output elements * fan-in``; biases, pooling and
  additions not counted), what the ANN computes once per inference;
- **input MACs**: with constant inputs, the layers before the first spiking
  layer read real values, not spikes: counted as their MACs, once per
  inference (the input is constant, so its current is too), at the energy
  of a synop.  With ``input_encoding="poisson"`` the input spikes (their
  expected number) times their fan-out are synops instead.

Energy per inference on a device is ``synops * energy_per_synop + updates *
energy_per_neuron`` on a spiking (neuromorphic) device.  A non-spiking device
(CPU, GPU) runs the spiking network as a dense simulation, every synapse and
neuron every step: ``n_steps * (MACs * energy_per_synop + neurons *
energy_per_neuron)``; the ANN on it costs ``MACs * energy_per_synop + neurons
* energy_per_neuron``.  The built-in devices (`DEVICES`; add one with
`register_device`) and their published figures:

=============  =========  ==========  =============================================
device         J / synop  J / update  source
=============  =========  ==========  =============================================
``cpu``        8.6e-9     8.6e-9      Intel i7-4960X; Degnan, Marr & Hasler (2016),
                                      "Assessing trends in performance per Watt for
                                      signal processing applications", IEEE Trans.
                                      VLSI Systems 24(1), 58-66
``gpu``        0.3e-9     0.3e-9      NVIDIA GTX Titan Black; same source
``arm``        0.9e-9     0.9e-9      ARM Cortex-A; same source
``loihi``      27.1e-12   81e-12      Davies et al. (2018), "Loihi: a neuromorphic
                                      manycore processor with on-chip learning",
                                      IEEE Micro 38(1): 23.6 pJ per synaptic spike
                                      op + 3.5 pJ per synaptic update, 81 pJ per
                                      neuron update
``spinnaker``  13.3e-9    26e-9       Hoppner et al. (2019), "Dynamic power
                                      management for neuromorphic many-core
                                      systems", IEEE TCAS-I 66(8), arXiv:1903.08941
``spinnaker2`` 450e-12    2.19e-9     same source
=============  =========  ==========  =============================================

These are the figures KerasSpiking's ``ModelEnergy`` uses; like it, this is
an estimate of the computation, not of memory traffic, static power or
spike routing, which often dominate on real chips.
"""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np
import tensorflow as tf

from rateconv import _checks
from rateconv.converter import clone_layer
from rateconv.simulator import Simulator


@dataclasses.dataclass(frozen=True)
class Device:
    """A device's energy per synaptic operation and per neuron update.

    Attributes
    ----------
    name : str
    energy_per_synop, energy_per_neuron : float
        In joules.
    spiking : bool
        Whether it runs spiking networks event by event (neuromorphic); a
        non-spiking device simulates them densely.
    reference : str
        Where the figures come from.
    """

    name: str
    energy_per_synop: float
    energy_per_neuron: float
    spiking: bool
    reference: str = ""


DEVICES = {}
"""Devices by name; `register_device` adds to it."""


def register_device(
    name, *, energy_per_synop, energy_per_neuron, spiking, reference=""
):
    """Add (or replace) a device of `energy`'s table.

    Parameters
    ----------
    name : str
    energy_per_synop, energy_per_neuron : float
        Joules per synaptic operation (a MAC on a non-spiking device) and per
        neuron update (> 0).
    spiking : bool
        A neuromorphic device (spikes cost synops only where they happen).
    reference : str
        Where the figures come from (shown by `EnergyReport.summary`).

    Returns
    -------
    Device

    Examples
    --------
    >>> import rateconv
    >>> rateconv.register_device(
    ...     "my-chip", energy_per_synop=5e-12, energy_per_neuron=20e-12, spiking=True
    ... ).energy_per_synop
    5e-12
    >>> from rateconv.energy import DEVICES   # rateconv.energy is the function
    >>> del DEVICES["my-chip"]
    """
    _checks.check_type("name", name, str, "a str")
    device = Device(
        name,
        _checks.check_positive("energy_per_synop", energy_per_synop, unit="joules"),
        _checks.check_positive("energy_per_neuron", energy_per_neuron, unit="joules"),
        bool(spiking),
        str(reference),
    )
    DEVICES[name] = device
    return device


_DEGNAN = "Degnan, Marr & Hasler 2016, IEEE TVLSI 24(1)"
_HOPPNER = "Hoppner et al. 2019, IEEE TCAS-I 66(8), arXiv:1903.08941"
for _name, _synop, _neuron, _spiking, _ref in (
    ("cpu", 8.6e-9, 8.6e-9, False, f"Intel i7-4960X; {_DEGNAN}"),
    ("gpu", 0.3e-9, 0.3e-9, False, f"NVIDIA GTX Titan Black; {_DEGNAN}"),
    ("arm", 0.9e-9, 0.9e-9, False, f"ARM Cortex-A; {_DEGNAN}"),
    ("loihi", (23.6 + 3.5) * 1e-12, 81e-12, True, "Davies et al. 2018, IEEE Micro"),
    ("spinnaker", 13.3e-9, 26e-9, True, _HOPPNER),
    ("spinnaker2", 450e-12, 2.19e-9, True, _HOPPNER),
):
    register_device(
        _name,
        energy_per_synop=_synop,
        energy_per_neuron=_neuron,
        spiking=_spiking,
        reference=_ref,
    )


# ------------------------------------------------------------ the counting


def macs(stage, input_shape=None):
    """Multiply-accumulates of a stage's Dense/convolution for one input."""
    kernel = getattr(stage.op, "kernel", None)
    if kernel is None or not stage.output_shape:
        return 0
    fan_in = math.prod(kernel.shape) // stage.output_shape[-1]
    return math.prod(stage.output_shape) * fan_in


def _counting_op(stage, input_shapes):
    """``stage.op`` with weights 1 where nonzero, bias 0 and pooling as a sum."""
    op = stage.op
    if getattr(op, "kernel", None) is not None and isinstance(op, keras.layers.Layer):
        weights = [
            (w != 0).astype("float32") if i == 0 else np.zeros_like(w)
            for i, w in enumerate(op.get_weights())
        ]
        return clone_layer(op, input_shape=(None, *input_shapes[0]), weights=weights)
    config = stage.spiking_max_pool or getattr(op, "get_config", dict)()
    if "Pooling" in stage.kind or stage.spiking_max_pool is not None:
        if "Global" in type(op).__name__:
            axes = tuple(range(1, len(input_shapes[0])))  # all but channels
            keep = config.get("keepdims", False)
            return lambda x: keras.ops.sum(x, axis=axes, keepdims=keep)
        pool = config["pool_size"]
        area = math.prod(pool)

        def pooled(x):
            y = keras.ops.average_pool(
                x, pool, config["strides"], config["padding"].lower()
            )
            return y * area

        return pooled
    return op


def fan_out(net, source):
    """Connections of each neuron of stage ``source`` to the next neurons.

    Returns
    -------
    numpy.ndarray, shape ``net[source].output_shape``
        How many neurons of the next spiking layers (or outputs) each neuron
        reaches through the linear layers between (see `rateconv.energy`).
    """
    shapes = {s.name: s.output_shape for s in net.stages}
    x = tf.zeros((1, *shapes[source]))
    with tf.GradientTape() as tape:
        tape.watch(x)
        values, total = {source: x}, tf.constant(0.0)
        for stage in net.stages[[s.name for s in net.stages].index(source) + 1 :]:
            if not any(n in values for n in stage.inputs):
                continue
            ins = [values.get(n, tf.zeros((1, *shapes[n]))) for n in stage.inputs]
            v = ins[0]
            if stage.op is not None:
                op = _counting_op(stage, [shapes[n] for n in stage.inputs])
                v = op(*ins) if len(ins) > 1 else op(ins[0])
            if stage.spiking_neuron is not None or stage.name in net.outputs:
                total = total + tf.reduce_sum(v)
            if stage.spiking_neuron is None:
                values[stage.name] = v
    grad = tape.gradient(total, x)
    if grad is None:
        return np.zeros(shapes[source])
    return np.rint(grad.numpy()[0])


@dataclasses.dataclass(frozen=True)
class EnergyReport:
    """What `energy` measured; `summary` for people, `as_dict` for programs.

    Attributes
    ----------
    layers : list of dict
        One row per stage with neurons or weights: ``name``, ``kind``,
        ``neurons``, ``macs`` (of the rate network), ``spikes``,
        ``synops`` (from this layer's spikes), ``neuron_updates`` (all per
        inference), ``mean_fan_out`` and ``max_spikes_per_step`` (the most
        spikes one of its neurons fired in one step; None for rows without
        neurons).
    n_steps, n_samples : int
    dt : float
    devices : tuple of Device
    accuracy : float or None
        At the last step, when labels were given.

    Examples
    --------
    >>> import numpy as np, keras, rateconv
    >>> model = keras.Sequential([
    ...     keras.Input((4,)),
    ...     keras.layers.Dense(16, activation="relu", name="hidden"),
    ...     keras.layers.Dense(3, name="out")])
    >>> x = np.random.default_rng(0).uniform(size=(64, 4)).astype("float32")
    >>> report = rateconv.energy(rateconv.convert(model, scale_firing_rates=100), x,
    ...                          n_steps=5, devices=["loihi"])
    >>> {"macs", "synops", "spikes", "neuron_updates"} <= set(report.totals)
    True
    >>> report.device_energy(report.devices[0])["snn"] > 0
    True
    """

    layers: list
    n_steps: int
    n_samples: int
    dt: float
    devices: tuple
    input_macs: float
    accuracy: float | None = None

    @property
    def totals(self):
        keys = ("neurons", "macs", "spikes", "synops", "neuron_updates")
        out = {k: float(sum(row[k] for row in self.layers)) for k in keys}
        out["synops"] += self.input_macs
        out["input_macs"] = self.input_macs
        peaks = [r["max_spikes_per_step"] for r in self.layers]
        peaks = [p for p in peaks if p is not None]
        out["max_spikes_per_step"] = max(peaks) if peaks else None
        return out

    @property
    def graded_layers(self):
        """``{layer: most spikes in one step}`` of layers that fired more than
        one spike per neuron in a step (graded spikes)."""
        return {
            r["name"]: r["max_spikes_per_step"]
            for r in self.layers
            if (r["max_spikes_per_step"] or 0) > 1
        }

    def device_energy(self, device):
        """``{"snn": J, "ann": J or None}`` per inference on ``device``."""
        t = self.totals
        e_s, e_n = device.energy_per_synop, device.energy_per_neuron
        if device.spiking:
            return {"snn": t["synops"] * e_s + t["neuron_updates"] * e_n, "ann": None}
        ann = t["macs"] * e_s + t["neurons"] * e_n
        return {"snn": self.n_steps * ann, "ann": ann}

    def as_dict(self):
        """Everything as plain Python numbers, lists and dicts (JSON-ready)."""
        return {
            "n_steps": self.n_steps,
            "n_samples": self.n_samples,
            "dt": self.dt,
            "accuracy": self.accuracy,
            "layers": [dict(row) for row in self.layers],
            "totals": self.totals,
            "energy_per_inference": {
                d.name: {**self.device_energy(d), "spiking_device": d.spiking}
                for d in self.devices
            },
            "devices": {d.name: dataclasses.asdict(d) for d in self.devices},
        }

    def summary(self):
        """Per-layer counts and per-device energy, as a text table."""
        head = ("layer", "kind", "neurons", "ANN MACs", "spikes", "synops",
                "updates", "fan-out")  # fmt: skip
        rows = [head]
        for r in self.layers:
            rows.append((
                r["name"], r["kind"], f"{r['neurons']:,}", f"{r['macs']:,}",
                f"{r['spikes']:,.0f}", f"{r['synops']:,.0f}",
                f"{r['neuron_updates']:,}", f"{r['mean_fan_out']:.1f}",
            ))  # fmt: skip
        t = self.totals
        rows.append((
            "total", f"+ input MACs {self.input_macs:,.0f}", f"{t['neurons']:,.0f}",
            f"{t['macs']:,.0f}", f"{t['spikes']:,.0f}", f"{t['synops']:,.0f}",
            f"{t['neuron_updates']:,.0f}", "",
        ))  # fmt: skip
        widths = [max(len(str(r[i])) for r in rows) for i in range(len(head))]
        lines = [
            "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows
        ]
        lines.insert(1, "-" * len(lines[0]))
        lines.append("")
        lines.append(
            f"per inference ({self.n_samples} samples, {self.n_steps} steps of "
            f"{self.dt * 1000:g} ms)"
            + (f", accuracy {self.accuracy:.2%}" if self.accuracy is not None else "")
        )
        graded = self.graded_layers
        if graded:
            most = ", ".join(f"{k} {v:g}" for k, v in graded.items())
            lines.append(
                "  graded spikes: neurons fired up to this many spikes in one step "
                f"({most}); each counts as that many spikes and synops, as a chip "
                "taking one-bit spikes must send them"
            )
        else:
            lines.append("  binary spikes: at most one spike per neuron per step")
        for d in self.devices:
            e = self.device_energy(d)
            ann = "" if e["ann"] is None else f"   ANN {e['ann']:.3g} J"
            kind = "neuromorphic" if d.spiking else "dense simulation"
            lines.append(
                f"  {d.name:<11} SNN {e['snn']:.3g} J ({kind}){ann}   [{d.reference}]"
            )
        return "\n".join(lines)


def energy(
    net,
    x,
    *,
    n_steps=30,
    y=None,
    devices=None,
    input_encoding="constant",
    seed=0,
    dt=None,
    minibatch_size=None,
):
    """Measure a network's operations and energy per inference on real inputs.

    Parameters
    ----------
    net : rateconv.SpikingNetwork or keras.Model
        A converted network (a Keras model is converted with the defaults).
    x : array, shape (n_samples, *input_shape)
        Inputs, as `rateconv.Simulator.evaluate` takes them.
    n_steps : int
        Timesteps per inference.
    y : array or None
        Labels; when given, the report carries the accuracy at the last step.
    devices : list of str or None
        Names in `DEVICES` (default: all).
    input_encoding : {"constant", "poisson"}
        As in `rateconv.Simulator.predict`.
    seed : int
    dt : float or None
        Step length in seconds (default: the simulator's, 0.001).
    minibatch_size : int or None

    Returns
    -------
    EnergyReport

    Examples
    --------
    >>> import numpy as np, keras, rateconv
    >>> model = keras.Sequential([
    ...     keras.Input((4,)),
    ...     keras.layers.Dense(16, activation="relu", name="hidden"),
    ...     keras.layers.Dense(3, name="out")])
    >>> x = np.random.default_rng(0).uniform(size=(64, 4)).astype("float32")
    >>> report = rateconv.energy(rateconv.convert(model, scale_firing_rates=100), x,
    ...                          n_steps=5, devices=["loihi", "cpu"])
    >>> report.n_steps, report.n_samples
    (5, 64)
    >>> print(report.summary())                       # doctest: +ELLIPSIS
    layer ...
    """
    sim_options = {"minibatch_size": minibatch_size, "warn_activity": False}
    if dt is not None:
        sim_options["dt"] = dt
    sim = Simulator(net, **sim_options)
    net = sim.network
    n_steps = _checks.check_int("n_steps", n_steps)
    names = list(DEVICES) if devices is None else list(devices)
    for name in names:
        _checks.check_choice("devices", name, tuple(DEVICES))
    x = np.asarray(x)
    labels = np.zeros(len(x), int) if y is None else y
    evaluation = sim.evaluate(
        x, labels, n_steps=n_steps, input_encoding=input_encoding, seed=seed
    )
    n = len(x)
    shapes = {s.name: s.output_shape for s in net.stages}
    layers, input_macs = [], 0.0
    fed_by_spikes = _fed_by_spikes(net)
    for stage in net.stages:
        stage_macs = macs(stage)
        if stage.is_input and input_encoding == "poisson":
            fan = fan_out(net, stage.name)
            spikes = float(np.mean(x, axis=0).sum()) * n_steps
            synops = float((np.mean(x, axis=0) * fan).sum()) * n_steps
            layers.append(_row(stage, 0, 0, spikes, synops, 0, fan, 1.0))
            continue
        if (
            stage_macs
            and not fed_by_spikes[stage.name]
            and input_encoding == "constant"
        ):
            input_macs += stage_macs
        if stage.spiking_neuron is None:
            if stage_macs:
                layers.append(_row(stage, 0, stage_macs, 0.0, 0.0, 0, None))
            continue
        activity = evaluation.activity[stage.name]
        counts = activity.rates * n_steps * sim.dt
        counts = counts.reshape(shapes[stage.name])  # per neuron, per inference
        fan = fan_out(net, stage.name)
        layers.append(
            _row(
                stage, stage.n_neurons, stage_macs, float(counts.sum()),
                float((counts * fan).sum()), stage.n_neurons * n_steps, fan,
                activity.max_spikes_per_step,
            )
        )  # fmt: skip
    return EnergyReport(
        layers=layers,
        n_steps=n_steps,
        n_samples=n,
        dt=sim.dt,
        devices=tuple(DEVICES[name] for name in names),
        input_macs=float(input_macs),
        accuracy=None if y is None else 1.0 - evaluation.error,
    )


def _row(stage, neurons, stage_macs, spikes, synops, updates, fan, peak=None):
    return {
        "name": stage.name,
        "kind": stage.kind,
        "neurons": int(neurons),
        "macs": int(stage_macs),
        "spikes": spikes,
        "synops": synops,
        "neuron_updates": int(updates),
        "mean_fan_out": 0.0 if fan is None else float(np.mean(fan)),
        "max_spikes_per_step": peak,
    }


def _fed_by_spikes(net):
    """``{stage: whether a spiking layer is upstream of it}``."""
    fed = {}
    for stage in net.stages:
        fed[stage.name] = any(
            fed[n] or net[n].spiking_neuron is not None for n in stage.inputs
        )
    return fed


__all__ = ["DEVICES", "Device", "EnergyReport", "energy", "fan_out", "register_device"]
