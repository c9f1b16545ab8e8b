"""Export a converted network to NIR, the Neuromorphic Intermediate Representation.

NIR (``pip install nir``; Pedersen et al. 2024, "Neuromorphic intermediate
representation: a unified instruction set for interoperable brain-inspired
computing", Nature Communications 15, 8122) describes a spiking network as a
graph of continuous-time nodes, which Norse, snnTorch, Sinabs, Lava,
SpiNNaker2, Rockpool and others read.  `export_nir` writes a converted
`rateconv.SpikingNetwork` as such a graph; `rateconv.import_nir` reads one back.

Conventions
-----------
NIR fixes the equations but not every unit, and its readers differ; these are
the ones rateconv writes and reads.

- **Time in seconds.**  Every ``tau`` is in seconds, as rateconv's.
- **A spike is a Dirac delta of area 1.**  A spike train is ``z(t) = sum_k
  delta(t - t_k)``.  rateconv's spiking output, ``amplitude / dt`` per spike,
  is ``amplitude * z``: the amplitude goes into the weights that read the
  spikes (or the ``r`` of what reads them), so the graph does not depend on
  ``dt``.  In discrete time a neuron that fires ``n`` spikes in a step of
  length ``dt`` outputs the value ``n / dt`` during that step.  Readers that
  emit a spike as the value 1 in its step (Norse, snnTorch, Sinabs) treat it
  as area ``dt``: multiply the weights reading spikes by ``1 / dt`` for them
  (``examples/benchmarks/nir_consumer.py`` does).
- **Neurons have threshold 1, reset 0, ``r = 1`` and ``v_leak = 0``.**  A
  rateconv neuron applies ``J = gain * x + bias`` to its input ``x``; gain and
  bias (and the amplitude of the spikes feeding ``x``) are folded into the
  weights and bias of the Dense or Conv2D before it.  Where no such layer
  takes them (a neuron after a residual add or a pooling), a LIF gets ``r =
  gain * amplitude`` and ``v_leak = bias``, an IF ``r`` (an IF with a bias
  there is refused: NIR's IF has no leak term to carry it).
- **Tensors are channels first, without a batch axis**, as NIR's (PyTorch's)
  convolutions are: a Keras ``(H, W, C)`` feature map is NIR ``(C, H, W)``;
  a Conv2D kernel ``(kH, kW, Cin, Cout)`` becomes ``(Cout, Cin, kH, kW)``; a
  Flatten flattens ``(C, H, W)`` (``start_dim=0``), so the Dense after it
  has its input rows permuted from Keras' channels-last order.

The mapping, stage by stage:

====================================  ========================================
rateconv stage                        NIR nodes
====================================  ========================================
input                                 ``Input``
Dense                                 ``Affine``
Conv2D, DepthwiseConv2D               ``Conv2d`` (``groups``); "same" padding
                                      only where it is symmetric
AveragePooling2D (valid)              ``SumPool2d``, its ``1 / k**2`` folded
                                      into the next weights
GlobalAveragePooling2D                ``SumPool2d`` over the whole map and
                                      ``Flatten``
Flatten                               ``Flatten``
Add, Subtract, Average, Rescaling     edges into one node (NIR sums them),
(no offset)                           their factors folded into the weights
                                      (``Scale`` where they differ)
folded batch norm                     in the Dense/Conv2D weights
IF neuron, reset by subtraction       ``IF(r, v_threshold=1, v_reset=0)``
LIF neuron                            ``LIF(tau=tau_rc, r, v_leak,
                                      v_threshold=1, v_reset=0)``
lowpass synapse (`Alpha`: two)        ``LI(tau, r=1, v_leak=0)``
the probe filter (``probe=True``)     ``LI`` before each ``Output``
output                                ``Output``
====================================  ========================================

Refused, with the stage's name and the reason: max pooling, concatenation,
other layers and neurons NIR has no node for (capped, leaky and quantized
IF neurons), asymmetric padding, channels-first Keras layers.  An output's
readout (a softmax on the probe) and the network's readout rule (last value or
running mean) are not in the graph: they act on the outputs after it.

Discrete time
-------------
NIR's equations are continuous.  rateconv's steps are exactly this
discretisation of them (step ``dt``, 0.001 s by default), which the tests'
independent interpreter (``tests/nir_reference.py``) implements:

1. each step evaluates every node once, in topological order, each reading
   its inputs' values of the same step (no delay on edges);
2. a node's input is held constant over the step (zero-order hold), and a
   spike count ``n`` is the value ``n / dt`` over the step;
3. ``LI`` is integrated exactly: ``v <- a v + (1 - a) (v_leak + r I)`` with
   ``a = exp(-dt / tau)`` (rateconv's `Lowpass`);
4. ``IF`` is integrated exactly, resetting at each threshold crossing inside
   the step: ``v <- v + r I dt``, then ``n = floor((v - v_reset) /
   (v_threshold - v_reset))`` spikes if ``v > v_threshold`` and ``v <- v - n
   (v_threshold - v_reset)``.  That is rateconv's IF with reset by
   subtraction, exactly;
5. ``LIF`` is integrated exactly over the step, ``v <- J + (v - J) a`` with
   ``J = v_leak + r I``, and fires at most once per step: if ``v >
   v_threshold`` at the end of the step, one spike and ``v <- v_reset``.
   That is rateconv's LIF with ``tau_ref=0``, ``reset="zero"`` and no
   voltage floor (``min_voltage=-inf``), up to float rounding.  (Resetting at
   the end of the step loses the part of the step after the crossing, an
   error of order ``dt / tau``; Norse and snnTorch do the same, with forward
   Euler instead of the exponential.)

What the approximations change
------------------------------
NIR has no refractory period, no voltage floor and no initial voltage, and
its LIF resets to ``v_reset``.  A network using any of these is refused unless
asked for (the message lists every stage and what it changes):

- ``approximate_refractory=True`` drops LIF's ``tau_ref``: the neurons fire
  faster (a 100 Hz LIF neuron with ``tau_rc`` = 20 ms and ``tau_ref`` = 2 ms
  fires at 125 Hz without it; the message computes it for each layer);
- ``approximate_voltage=True`` drops LIF's voltage floor (``min_voltage``,
  0 by default: a negative input drives NIR's voltage below 0), exports LIF
  with reset by subtraction and IF with reset to zero as NIR's reset (at most
  one LIF spike per step keeps its overshoot in rateconv), and starts every
  voltage at 0 (a network converted with ``initial_state="half"`` or
  ``"uniform"`` starts there in rateconv; NIR readers start at 0, or at
  ``v_leak``).
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import keras
import numpy as np

from rateconv import neurons
from rateconv._checks import check_type
from rateconv.network import SpikingNetwork
from rateconv.nir._conventions import nir_package
from rateconv.synapses import Lowpass


@dataclasses.dataclass
class _Value:
    """A stage's value in the graph: ``sum(factor * output of node)``.

    ``shape`` is in NIR order (channels first); ``perm`` is set for a vector
    flattened from a feature map: NIR element ``i`` is Keras element
    ``perm[i]``.
    """

    terms: list
    shape: tuple
    perm: np.ndarray | None = None


class ExportError(ValueError):
    """A network NIR cannot express (a `ValueError`)."""


def _refuse(stage, reason, remedy=""):
    message = f"Stage '{stage.name}' ({stage.kind}) cannot be exported to NIR: {reason}"
    raise ExportError(message + (f". {remedy}" if remedy else ""))


def _nir_shape(keras_shape):
    """NIR (channels-first) order of a Keras (channels-last) shape."""
    shape = tuple(int(d) for d in keras_shape)
    return (shape[-1], *shape[:-1]) if len(shape) == 3 else shape


def _lif_rate_hz(j, tau_rc, tau_ref):
    return 0.0 if j <= 1 else 1.0 / (tau_ref + tau_rc * math.log1p(1.0 / (j - 1)))


def _same_padding(size, kernel, stride, dilation):
    """Keras "same" padding of one axis as ``(before, after)``."""
    effective = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


class _Layers:
    """The Keras layers' NIR nodes; `_Exporter` adds the neurons and the walk.

    Each method takes the stage, its layer and the `_Value` of its input, adds
    the nodes and returns the stage's `_Value`.
    """

    # ------------------------------------------------------------ helpers

    def add(self, name, node, sources=()):
        self.nodes[name] = node
        self.edges.extend((s, name) for s in sources)
        return name

    def materialize(self, value, name):
        """``(source nodes, factor)``: ``value = factor * sum(sources)``.

        Terms with different factors each get a ``Scale`` node first.
        """
        factors = {f for _, f in value.terms}
        if len(factors) == 1:
            return [n for n, _ in value.terms], factors.pop()
        sources = []
        for i, (node, f) in enumerate(value.terms):
            scale = np.full(value.shape, f, dtype=np.float32)
            sources.append(self.add(f"{name}.scale{i}", self.nir.Scale(scale), [node]))
        return sources, 1.0

    def merge(self, stage, layer, ins):
        if any(v.shape != ins[0].shape for v in ins) or any(
            (v.perm is None) != (ins[0].perm is None)
            or (v.perm is not None and not np.array_equal(v.perm, ins[0].perm))
            for v in ins
        ):
            _refuse(stage, "its inputs have different shapes or layouts")
        signs = [1.0] * len(ins)
        if isinstance(layer, keras.layers.Subtract):
            signs = [1.0, -1.0]
        elif isinstance(layer, keras.layers.Average):
            signs = [1.0 / len(ins)] * len(ins)
        terms = [(n, f * s) for v, s in zip(ins, signs) for n, f in v.terms]
        return _Value(terms, ins[0].shape, ins[0].perm)

    def rescaling(self, stage, layer, value):
        scale, offset = np.asarray(layer.scale), np.asarray(layer.offset)
        if scale.size != 1 or np.any(offset != 0):
            _refuse(
                stage,
                "only a Rescaling by one number without offset folds into the "
                f"weights (scale={layer.scale}, offset={layer.offset})",
            )
        s = float(scale)
        return _Value([(n, f * s) for n, f in value.terms], value.shape, value.perm)

    def dense(self, stage, layer, value):
        if len(value.shape) != 1:
            _refuse(stage, "a Dense on a tensor of rank > 1 has no NIR node")
        sources, f = self.materialize(value, stage.name)
        kernel = np.asarray(layer.kernel.numpy(), np.float64)
        if value.perm is not None:
            kernel = kernel[value.perm]
        bias = layer.bias.numpy() if layer.use_bias else np.zeros(kernel.shape[1])
        node = self.nir.Affine(
            weight=(kernel.T * f).astype(np.float32), bias=bias.astype(np.float32)
        )
        self.linear_node[stage.name] = self.add(stage.name, node, sources)
        return _Value([(stage.name, 1.0)], (kernel.shape[1],))

    def conv(self, stage, layer, value):
        if len(value.shape) != 3:
            _refuse(stage, "only 2D convolutions on (H, W, C) maps are supported")
        c_in, height, width = value.shape
        kh, kw = layer.kernel_size
        sh, sw = layer.strides
        dh, dw = layer.dilation_rate
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            k = layer.kernel.numpy()  # (kH, kW, Cin, multiplier)
            weight = k.reshape(kh, kw, 1, -1).transpose(3, 2, 0, 1)
            groups = c_in
        else:
            weight = layer.kernel.numpy().transpose(3, 2, 0, 1)
            groups = layer.groups
        padding = (0, 0)
        if layer.padding == "same":
            pads = [
                _same_padding(height, kh, sh, dh),
                _same_padding(width, kw, sw, dw),
            ]
            if any(a != b for a, b in pads):
                _refuse(
                    stage,
                    f"'same' padding is asymmetric here (rows {pads[0]}, columns "
                    f"{pads[1]} before/after: kernel {layer.kernel_size}, strides "
                    f"{layer.strides} on a {height}x{width} map) and NIR's Conv2d "
                    "pads both sides alike",
                    "Use padding='valid', an odd kernel with stride 1, or a map "
                    "size the stride divides with an odd kernel",
                )
            padding = (pads[0][0], pads[1][0])
        sources, f = self.materialize(value, stage.name)
        bias = layer.bias.numpy() if layer.use_bias else np.zeros(weight.shape[0])
        node = self.nir.Conv2d(
            input_shape=(height, width),
            weight=(weight * f).astype(np.float32),
            stride=(int(sh), int(sw)),
            padding=padding,
            dilation=(int(dh), int(dw)),
            groups=int(groups),
            bias=bias.astype(np.float32),
        )
        self.linear_node[stage.name] = self.add(stage.name, node, sources)
        out = _nir_shape(stage.output_shape)
        return _Value([(stage.name, 1.0)], out)

    def pool(self, stage, layer, value):
        if layer.padding != "valid":
            _refuse(
                stage,
                "average pooling with 'same' padding divides by the number of "
                "valid inputs at the edges, which a SumPool2d cannot",
                "Use padding='valid'",
            )
        kh, kw = layer.pool_size
        sources, f = self.materialize(value, stage.name)
        node = self.nir.SumPool2d(
            kernel_size=np.array([kh, kw]),
            stride=np.array(layer.strides),
            padding=np.array([0, 0]),
        )
        self.add(stage.name, node, sources)
        out = _nir_shape(stage.output_shape)
        return _Value([(stage.name, f / (kh * kw))], out)

    def global_pool(self, stage, layer, value):
        c, h, w = value.shape
        sources, f = self.materialize(value, stage.name)
        node = self.nir.SumPool2d(
            kernel_size=np.array([h, w]),
            stride=np.array([h, w]),
            padding=np.array([0, 0]),
        )
        name = self.add(f"{stage.name}.sum", node, sources)
        if getattr(layer, "keepdims", False):
            return _Value([(name, f / (h * w))], (c, 1, 1))
        flat = self.nir.Flatten(np.array([c, 1, 1]), start_dim=0)
        self.add(stage.name, flat, [name])
        return _Value([(stage.name, f / (h * w))], (c,))

    def flatten(self, stage, value):
        if len(value.shape) == 1:
            return value
        sources, f = self.materialize(value, stage.name)
        self.add(
            stage.name, self.nir.Flatten(np.array(value.shape), start_dim=0), sources
        )
        size = int(np.prod(value.shape))
        perm = None
        if len(value.shape) == 3:
            c, h, w = value.shape
            perm = np.arange(size).reshape(h, w, c).transpose(2, 0, 1).ravel()
        return _Value([(stage.name, f)], (size,), perm)


class _Exporter(_Layers):
    """Builds the NIR graph of one network, stage by stage."""

    def __init__(self, net, *, approximate_refractory, approximate_voltage, probe):
        self.nir = nir_package()
        self.net = net
        self.approximate_refractory = approximate_refractory
        self.approximate_voltage = approximate_voltage
        self.probe = probe
        self.nodes, self.edges, self.values = {}, [], {}
        self.approximations = []  # (stage name, what changes, flag)
        n_readers = {s.name: len(net.consumers(s.name)) for s in net.stages}
        # a linear node whose one reader is a neuron can take its gain and bias
        self.exclusive = {
            name for name, n in n_readers.items() if n == 1 and name not in net.outputs
        }
        self.linear_node = {}  # stage name -> its Affine/Conv2d node name

    # ------------------------------------------------------------- stages

    def run(self):
        for stage in self.net.stages:
            if stage.is_input:
                shape = _nir_shape(stage.output_shape)
                node = self.add(stage.name, self.nir.Input(np.array(shape)))
                self.values[stage.name] = _Value([(node, 1.0)], shape)
                continue
            ins = [self.values[n] for n in stage.inputs]
            value = self.op(stage, ins) if stage.op is not None else ins[0]
            if stage.spiking_neuron is not None:
                value = self.neuron(stage, value)
            self.values[stage.name] = value
        for name in self.net.outputs:
            self.output(self.net[name])
        if self.approximations:
            self.refuse_approximations()
        return self.nir.NIRGraph(
            nodes=self.nodes, edges=self.edges, metadata=spike_budget(self.net)
        )

    def op(self, stage, ins):
        if stage.spiking_max_pool is not None or "MaxPool" in stage.kind:
            _refuse(
                stage,
                "NIR has no max pooling",
                "Convert with rateconv.convert(model, max_to_avg_pool=True) (this "
                "changes the function) or use average pooling in the model",
            )
        op = stage.op
        if not isinstance(op, keras.layers.Layer) and not hasattr(op, "layer"):
            _refuse(stage, f"NIR has no node for the operation {type(op).__name__}")
        layer = getattr(op, "layer", op)
        if getattr(layer, "data_format", "channels_last") != "channels_last":
            _refuse(stage, "channels-first Keras layers are not supported")
        cls = type(layer)
        if cls in (keras.layers.Add, keras.layers.Subtract, keras.layers.Average):
            return self.merge(stage, layer, ins)
        if cls is keras.layers.Rescaling:
            return self.rescaling(stage, layer, ins[0])
        if cls is keras.layers.Dense:
            return self.dense(stage, layer, ins[0])
        if cls in (keras.layers.Conv2D, keras.layers.DepthwiseConv2D):
            return self.conv(stage, layer, ins[0])
        if cls is keras.layers.AveragePooling2D:
            return self.pool(stage, layer, ins[0])
        if cls is keras.layers.GlobalAveragePooling2D:
            return self.global_pool(stage, layer, ins[0])
        if cls is keras.layers.Flatten:
            return self.flatten(stage, ins[0])
        reason = {
            keras.layers.Concatenate: "NIR has no concatenation",
            keras.layers.BatchNormalization: "a batch normalization that does not "
            "fold into the Dense/Conv before it has no NIR node",
        }.get(cls, f"NIR has no node for the Keras layer {cls.__name__}")
        _refuse(stage, reason)

    # ------------------------------------------------------------ neurons

    def neuron(self, stage, value):
        neuron = stage.spiking_neuron
        if type(neuron) is neurons.LIF:
            self.check_lif(stage, neuron)
        elif type(neuron) is neurons.SpikingRectifiedLinear:
            if neuron.reset != "subtract":
                self.approximate(
                    stage,
                    "IF reset to zero loses the charge above threshold; NIR's IF "
                    "resets at the crossing, which keeps it (as reset by "
                    "subtraction does)",
                    "approximate_voltage",
                )
        else:
            _refuse(
                stage,
                f"NIR has no neuron like {type(neuron).__name__} (only IF and LIF)",
            )
        if stage.initial_state != "zero":
            self.approximate(
                stage,
                f"its voltage starts {stage.initial_state} ('{stage.initial_state}' "
                "initial_state); NIR has no initial state and its readers start "
                "at 0",
                "approximate_voltage",
            )
        sources, r, v_leak = self.fold_current(stage, neuron, value)
        ones = np.ones(value.shape)
        if isinstance(neuron, neurons.LIF):
            node = self.nir.LIF(
                tau=ones * neuron.tau_rc,
                r=ones * r,
                v_leak=ones * v_leak,
                v_threshold=ones,
                v_reset=0 * ones,
            )
        else:
            node = self.nir.IF(r=ones * r, v_threshold=ones, v_reset=0 * ones)
        name = stage.name if stage.op is None else f"{stage.name}.spikes"
        last = self.add(name, node, sources)
        synapse = stage.synapse
        if synapse is not None:
            for i in range(synapse.n_stages):
                li = self.nir.LI(tau=ones * synapse.tau, r=ones, v_leak=0 * ones)
                last = self.add(f"{stage.name}.synapse{i}", li, [last])
        return _Value([(last, float(neuron.amplitude))], value.shape)

    def fold_current(self, stage, neuron, value):
        """``(sources, r, v_leak)`` of the NIR neuron.

        The gain and bias go into the weights of the Dense/Conv before it
        when that layer is this stage's own operation or its one input that
        nothing else reads; otherwise into ``r`` and ``v_leak``.
        """
        gain, bias = float(neuron.gain), float(neuron.bias)
        if len(value.terms) == 1:
            source, f = value.terms[0]
            owner = next((s for s, n in self.linear_node.items() if n == source), None)
            if owner == stage.name or (
                stage.op is None
                and stage.inputs == (owner,)
                and owner in self.exclusive
            ):
                linear = self.nodes[source]
                linear.weight = (linear.weight * (f * gain)).astype(np.float32)
                linear.bias = (linear.bias * (f * gain) + bias).astype(np.float32)
                return [source], 1.0, 0.0
        sources, f = self.materialize(value, stage.name)
        if bias != 0 and not isinstance(neuron, neurons.LIF):
            _refuse(
                stage,
                f"its IF neurons have a bias ({bias:g}) that no Dense/Conv before "
                "them can take, and NIR's IF has no leak term to carry it",
            )
        return sources, gain * f, bias

    def check_lif(self, stage, neuron):
        if neuron.tau_ref > 0:
            j = neuron.gain + neuron.bias  # the current at x = 1
            before = _lif_rate_hz(j, neuron.tau_rc, neuron.tau_ref)
            after = _lif_rate_hz(j, neuron.tau_rc, 0.0)
            self.approximate(
                stage,
                f"NIR's LIF has no refractory period; dropping tau_ref="
                f"{neuron.tau_ref:.3g} s (tau_rc={neuron.tau_rc:.3g} s) makes its "
                f"neurons fire faster: at x = 1 (J = {j:.3g}), {before:.4g} Hz "
                f"becomes {after:.4g} Hz",
                "approximate_refractory",
            )
        if neuron.min_voltage > -math.inf:
            self.approximate(
                stage,
                f"its voltage is floored at min_voltage={neuron.min_voltage:g}; "
                "NIR's LIF has no floor, so negative input drives it lower and "
                "delays the next spike",
                "approximate_voltage",
            )
        if neuron.reset == "subtract":
            self.approximate(
                stage,
                "its LIF resets by subtraction (keeping the overshoot); NIR's LIF "
                "resets to v_reset",
                "approximate_voltage",
            )

    def approximate(self, stage, what, flag):
        if not getattr(self, flag):
            self.approximations.append((stage.name, what, flag))

    def refuse_approximations(self):
        flags = sorted({flag for _, _, flag in self.approximations})
        by_stage = {}
        for name, what, flag in self.approximations:
            by_stage.setdefault(name, []).append(f"{what} [{flag}]")
        lines = [f"  - '{name}': " + "; ".join(w) for name, w in by_stage.items()]
        raise ExportError(
            f"Network '{self.net.name}' has what NIR cannot express exactly:\n"
            + "\n".join(lines)
            + "\nExport the approximation with "
            + ", ".join(f"{f}=True" for f in flags)
            + " (see rateconv.nir for what each changes)."
        )

    # ------------------------------------------------------------- outputs

    def output(self, stage):
        value = self.values[stage.name]
        if value.perm is not None:
            _refuse(stage, "a flattened feature map as an output has no NIR order")
        sources, f = self.materialize(value, f"{stage.name}.out")
        synapse = self.net.probe_synapse if self.probe else None
        if synapse is not None:
            ones = np.ones(value.shape)
            for i in range(synapse.n_stages):
                li = self.nir.LI(
                    tau=ones * synapse.tau,
                    r=ones * f if i == 0 else 1.0,
                    v_leak=0 * ones,
                )
                sources = [self.add(f"{stage.name}.probe{i}", li, sources)]
        elif f != 1.0:
            scale = np.full(value.shape, f, np.float32)
            sources = [self.add(f"{stage.name}.scale", self.nir.Scale(scale), sources)]
        out = self.nir.Output(np.array(value.shape))
        self.add(f"{stage.name}.output", out, sources)


class GradedSpikesWarning(UserWarning):
    """An exported network's neurons can fire several spikes in one step."""


def spike_budget(net):
    """The graph metadata saying how many spikes a neuron may fire per step.

    ``max_spikes_per_step``: 1 for binary spikes, more for graded spikes,
    ``"unbounded"`` for integrate-and-fire neurons without a cap;
    ``graded_layers``: the stages above 1, comma-separated.
    """
    m = net.max_spikes_per_step
    return {
        "rateconv_max_spikes_per_step": "unbounded" if m is None else int(m),
        "rateconv_graded_layers": ",".join(net.graded_stages()),
    }


def _warn_graded(net):
    graded = net.graded_stages()
    if not graded:
        return
    m = net.max_spikes_per_step
    budget = "no limit" if m is None else f"up to {m}"
    names = ", ".join(f"'{n}'" for n in graded)
    warnings.warn(
        f"The neurons of {names} can fire more than one spike per step ({budget}: "
        "graded spikes). NIR's IF and LIF nodes fire one spike per threshold "
        "crossing: a simulator or chip taking one-bit spikes drops or delays the "
        "extra spikes, and the exported network then spikes differently. "
        "Convert with rateconv.convert(..., max_spikes_per_step=1) for binary "
        "spikes. The graph's metadata records it (rateconv_max_spikes_per_step).",
        GradedSpikesWarning,
        stacklevel=3,
    )


def export_nir(
    net,
    path=None,
    *,
    approximate_refractory=False,
    approximate_voltage=False,
    probe=True,
):
    """A converted network as a NIR graph (see `rateconv.nir`).

    Parameters
    ----------
    net : rateconv.SpikingNetwork
        From `rateconv.convert`.
    path : str, Path or None
        Also write the graph there (HDF5, ``nir.write``).
    approximate_refractory : bool
        Drop LIF neurons' refractory period, which NIR cannot express (they
        then fire faster; the error without it says how much).
    approximate_voltage : bool
        Drop what NIR cannot say about the voltage: LIF's floor
        (``min_voltage``), LIF's reset by subtraction, IF's reset to zero and
        an initial voltage other than 0.
    probe : bool
        End each output with the network's probe filter
        (`SpikingNetwork.probe_synapse`) as ``LI`` nodes, so that the graph's
        outputs are what `rateconv.Simulator.predict` returns (with
        ``readout="last"``); False ends them with the raw output.

    Returns
    -------
    nir.NIRGraph
        Node names are the stage names (``"<stage>.synapse0"`` for a
        synapse, ``"<stage>.output"`` for an output).  Its ``metadata``
        records the spike budget (`spike_budget`): a network whose neurons can
        fire more than one spike per step (graded spikes) is exported with a
        `GradedSpikesWarning` naming those layers.

    Raises
    ------
    ValueError
        (`ExportError`) naming the stage and the reason, for what NIR cannot
        express, and listing every approximation the network needs when it is
        not asked for.

    Examples
    --------
    >>> import numpy as np, keras, rateconv
    >>> model = keras.Sequential([
    ...     keras.Input((4,)),
    ...     keras.layers.Dense(16, activation="relu", name="hidden"),
    ...     keras.layers.Dense(3, name="out")])
    >>> x = np.random.default_rng(0).uniform(size=(64, 4)).astype("float32")
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "net.nir"
    >>> graph = rateconv.export_nir(rateconv.convert(model), path)
    >>> sorted({type(node).__name__ for node in graph.nodes.values()})
    ['Affine', 'IF', 'Input', 'LI', 'Output']
    """
    check_type("net", net, SpikingNetwork, "a rateconv.SpikingNetwork")
    _warn_graded(net)
    if net.probe_synapse is not None and not isinstance(net.probe_synapse, Lowpass):
        raise TypeError(f"Unknown probe_synapse {net.probe_synapse!r}")
    graph = _Exporter(
        net,
        approximate_refractory=bool(approximate_refractory),
        approximate_voltage=bool(approximate_voltage),
        probe=bool(probe),
    ).run()
    if path is not None:
        nir_package().write(path, graph)
    return graph


__all__ = ["ExportError", "GradedSpikesWarning", "export_nir", "spike_budget"]
