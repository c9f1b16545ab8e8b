"""Integer spike-reading layers: exact sums of whole spikes and int8 weights.

A spike is a whole number (``k * amplitude / dt``), so a convolution or dense
layer whose input is the spikes of one neuron layer (perhaps average-pooled
and flattened on the way) can run on the spike counts ``k``: with its weights
quantized per output channel, ``w ~ q * scale_c`` (``q`` int8), it computes
``scale_c * amplitude / dt * sum(q * k)``, and the sum is an exact integer
whatever the CPU, the library or the order of summation.  Only the rounding
of the weights to int8 changes the network.

Connection synapses (lowpass, alpha) are linear and time-invariant: on such a
path the synapse of the neuron layer moves after the linear layer (filtering
``W s`` rather than ``s``, the bias added after the filter), which is the same
network up to float rounding and keeps the layer's input an integer.

The sums run as ``tf.raw_ops.QuantizedConv2D`` (uint8 counts, int8 weights,
int32 sums: oneDNN, with AVX512-VNNI or AMX-INT8 where the CPU has them) where
the CPU has integer dot-product instructions, else as a float32 convolution
of the integer-valued tensors (exact too: every partial sum is an integer
below 2**24, checked when the layer is built).  Both give the same numbers, bit
for bit; ``RATECONV_INT8_KERNELS=0`` forces the float32 one.
"""

from __future__ import annotations

import dataclasses
import os

import keras
import numpy as np
import tensorflow as tf

from rateconv.simulator._exact import to_float32
from rateconv.simulator._precision import cpu_flags

INT8_ENV = "RATECONV_INT8_KERNELS"
"""Environment variable: ``0`` computes the integer sums as float32
convolutions (the portable path), never with int8 instructions."""

INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
"""/proc/cpuinfo flags of fast int8 dot products (oneDNN uses them)."""

_EXACT_LIMIT = 2**24
"""A float32 sum of integers is exact while every partial sum is below this."""

_forced_portable = [os.environ.get(INT8_ENV, "1") == "0"]


def set_int8_kernels(flag):
    """Allow (True) or forbid the int8 instructions; returns the previous setting.

    Results are the same either way; graphs built from now on follow it.
    """
    previous = not _forced_portable[0]
    _forced_portable[0] = not flag
    return previous


def int8_kernels():
    """Whether the integer sums run on int8 instructions here."""
    if _forced_portable[0]:
        return False
    return any(f in cpu_flags() for f in INT8_FLAGS)


@dataclasses.dataclass(frozen=True)
class IntegerPath:
    """A linear stage reading one neuron stage's whole spikes.

    Attributes
    ----------
    source : str
        The neuron stage whose spikes are read.
    unit : float
        The value of one spike at the linear stage's input (``amplitude /
        dt``, times the gain of any pooling on the way: 1 / area for
        average pooling).
    max_count : int
        The largest count a unit of input can hold (spikes per step times the
        pooled area); 0 if unbounded (integrate-and-fire without a cap).
    synapse : Lowpass or None
        The source's connection synapse, moved after the linear stage.
    """

    source: str
    unit: float
    max_count: int
    synapse: object = None


def _passthrough(stage):
    """``(area, gain)`` of a stage whose output is ``gain`` times a sum of
    ``area`` of its inputs (so whole counts stay whole), else None."""
    op = stage.op
    if stage.spiking_neuron is not None or stage.spiking_max_pool is not None:
        return None
    factor = 1.0
    if isinstance(getattr(op, "factor", None), float) and isinstance(
        getattr(op, "layer", None), keras.layers.AveragePooling2D
    ):  # a scaled pooling (sum pooling, as NIR import builds it)
        op, factor = op.layer, op.factor
    if isinstance(op, (keras.layers.Flatten, keras.layers.Reshape)):
        return 1, factor
    if isinstance(op, keras.layers.AveragePooling2D) and op.padding == "valid":
        if tuple(op.strides) == tuple(op.pool_size):
            area = int(np.prod(op.pool_size))
            return area, factor / area
    return None


def _max_spikes(neuron, dt):
    """Most spikes a neuron emits in one step: 0 for no bound known (the
    layer checks the counts as it runs), None for no integer path."""
    from rateconv.neurons import LIF, SpikingRectifiedLinear

    if type(neuron) is LIF:
        return 1
    if type(neuron) is SpikingRectifiedLinear:
        cap = getattr(neuron, "max_spikes_per_step", None)
        return 0 if cap is None else int(cap)
    return None


def _is_linear(op):
    if isinstance(op, keras.layers.Dense):
        return op.activation in (None, keras.activations.linear)
    if type(op) is keras.layers.Conv2D:
        return (
            op.activation in (None, keras.activations.linear)
            and op.groups == 1
            and op.data_format == "channels_last"
        )
    return False


def integer_plan(network, static, dt, probed=()):
    """``{stage name: IntegerPath}`` for the linear stages that can run on
    whole spikes (not those in ``static``; no stage in ``probed`` changes)."""
    plan = {}
    for stage in network.stages:
        if stage.name in static or len(stage.inputs) != 1 or not _is_linear(stage.op):
            continue
        area, gain, name, ok = 1, 1.0, stage.inputs[0], True
        while ok and network[name].spiking_neuron is None:
            s = network[name]
            through = _passthrough(s)
            ok = (
                through is not None
                and len(s.inputs) == 1
                and len(network.consumers(name)) == 1
                and name not in probed
                and name not in network.outputs
            )
            if ok:
                area, gain = area * through[0], gain * through[1]
            name = s.inputs[0] if ok else name
        if not ok:
            continue
        source = network[name]
        max_spikes = _max_spikes(source.spiking_neuron, dt)
        if max_spikes is None:
            continue
        plan[stage.name] = IntegerPath(
            source=name,
            unit=source.spiking_neuron.amplitude / dt * gain,
            max_count=max_spikes * area,
            synapse=source.synapse,
        )
    # a synapse moves only if every reader of its stage is on such a path
    readers = {}
    for name, path in plan.items():
        readers.setdefault(path.source, set()).add(name)
    for source, names in readers.items():
        src = network[source]
        if src.synapse is None:
            continue
        movable = (
            source not in probed
            and source not in network.outputs
            and all(
                _reaches(network, source, c, names) for c in network.consumers(source)
            )
        )
        if not movable:
            for name in names:
                del plan[name]
    return plan


def _reaches(network, source, consumer, targets):
    """Whether ``consumer`` of ``source`` is, or leads only to, a target."""
    while consumer not in targets:
        following = network.consumers(consumer)
        if len(following) != 1:
            return False
        consumer = following[0]
    return True


class IntegerSpikeOp:
    """A Conv2D or Dense layer computed on spike counts with int8 weights.

    Calling it on the (float32) spikes returns ``scale_c * unit * sum(q * k)``
    in float32 (each value rounded once), plus the bias unless ``with_bias``
    is False (the bias is then added after a moved synapse).
    """

    def __init__(self, layer, path, with_bias=True):
        w = np.asarray(keras.ops.convert_to_numpy(layer.kernel), np.float64)
        conv = isinstance(layer, keras.layers.Conv2D)
        self.layer = layer
        self.conv = conv
        peak = np.abs(w).reshape(-1, w.shape[-1]).max(axis=0)
        scale = np.where(peak > 0, peak / 127.0, 1.0)
        self.q = np.round(w / scale).astype(np.int8)
        self.unit = path.unit
        self.multiplier = scale * path.unit  # float64, per output channel
        bias = layer.bias if layer.use_bias else None
        self.bias = (
            np.asarray(keras.ops.convert_to_numpy(bias), np.float64)
            if bias is not None
            else np.zeros(w.shape[-1])
        )
        self.with_bias = with_bias
        # the largest count for which a float32 sum is exact, and int8 fits
        self.float32_limit = _EXACT_LIMIT // (int(np.prod(w.shape[:-1])) * 127)
        self.max_count = path.max_count
        self.int8_limit = 255 if int8_kernels() else 0
        # oneDNN takes the filter only as a graph constant: always in a graph
        self._int8_fn = tf.function(self._int8_sums)
        inverse = np.float32(1.0 / path.unit)
        multiplier, bias_64 = self.multiplier, self.bias

        # one pass each (XLA fuses them); the float64 arithmetic makes any
        # multiply-add contraction irrelevant after the float32 rounding
        @tf.function(jit_compile=True)
        def counts(x, dtype):
            return tf.cast(tf.round(x * inverse), dtype)

        @tf.function(jit_compile=True)
        def output(sums):
            return to_float32(tf.cast(sums, tf.float64) * multiplier + bias_64)

        self._counts_fn = counts
        self._output_fn = output

    def counts(self, x, dtype=tf.float32):
        """The whole spike counts of ``x`` (float32 values ``k * unit``)."""
        return self._counts_fn(x, dtype)

    def sums(self, x):
        """``sum(q * k)`` over each output for the spikes ``x``: exact, as
        int32, float32 or float64 (see `_sums_upto`)."""
        if self.max_count:
            return self._sums_upto(x, self.max_count)
        # counts of integrate-and-fire neurons without a cap: check the largest
        k = self.counts(x)
        top = tf.reduce_max(k)
        limits = sorted({self.int8_limit, self.float32_limit} - {0})
        out = self._float_sums(k, tf.float64)  # any count
        for limit in reversed(limits):
            out = tf.cond(
                top <= limit,
                lambda limit=limit: tf.cast(
                    self._sums_upto(k, limit, counted=True), tf.float64
                ),
                lambda out=out: out,
            )
        return out

    def _sums_upto(self, x, top, counted=False):
        """The sums, for counts known to be at most ``top`` (0: any), of the
        spikes ``x`` (or of their counts, if ``counted``).

        On int8 instructions for counts up to 255 where the CPU has them;
        else as a float32 convolution while its sums stay exact, else in
        float64.
        """

        def counts(dtype):
            return tf.cast(x, dtype) if counted else self.counts(x, dtype)

        if 0 < top <= self.int8_limit:
            return self._int8_fn(counts(tf.uint8))
        dtype = tf.float32 if 0 < top <= self.float32_limit else tf.float64
        return self._float_sums(counts(dtype), dtype)

    def _float_sums(self, k, dtype):
        q = tf.constant(self.q.astype(dtype.as_numpy_dtype))
        k = tf.cast(k, dtype)
        if self.conv:
            return tf.nn.conv2d(
                k, q, self._strides(), self._padding(), dilations=self._dilations()
            )
        return tf.matmul(k, q)

    def _strides(self):
        return [1, *self.layer.strides, 1]

    def _dilations(self):
        return [1, *self.layer.dilation_rate, 1]

    def _padding(self):
        return self.layer.padding.upper()

    def _int8_sums(self, k):
        x = tf.bitcast(k, tf.quint8)
        q = self.q if self.conv else self.q[None, None]
        if not self.conv:  # a dense layer is a 1x1 convolution
            x = x[:, None, None, :]
        out, _, _ = tf.raw_ops.QuantizedConv2D(
            input=x,
            filter=tf.bitcast(tf.constant(q), tf.qint8),
            min_input=tf.constant(0.0),
            max_input=tf.constant(255.0),
            min_filter=tf.constant(-127.0),
            max_filter=tf.constant(127.0),
            strides=self._strides() if self.conv else [1, 1, 1, 1],
            padding=self._padding() if self.conv else "VALID",
            dilations=self._dilations() if self.conv else [1, 1, 1, 1],
            out_type=tf.qint32,
        )
        out = tf.bitcast(out, tf.int32)
        return out if self.conv else out[:, 0, 0, :]

    def __call__(self, x):
        """The layer's output, float32: ``sum * scale_c * unit`` (+ bias) in
        float64 rounded once; without the bias (it is added after a moved
        synapse) the raw sums, which the synapse's loop scales."""
        sums = self.sums(x)
        if not self.with_bias:
            return tf.cast(sums, tf.float32)  # exact below 2**24
        return self._output_fn(sums)


def moved_synapse_scan(synapse, multiplier, bias, dt, n_steps):
    """A loop scaling a linear stage's integer sums by ``multiplier``,
    filtering them by a moved synapse and adding the stage's bias (float64
    arithmetic, float32 states): a numba kernel on the CPU
    (`rateconv.simulator._fused`), else XLA; the same numbers either way."""
    from rateconv.simulator import _fused

    if _fused.available() and synapse.n_stages <= 2:
        return _fused.moved_synapse(synapse, multiplier, bias, dt, n_steps)
    a = synapse.decay(dt)

    @tf.function(jit_compile=True)
    def scan(x, state):
        outs = tf.TensorArray(tf.float32, size=n_steps)
        for t in tf.range(n_steps):
            y = tf.cast(x[t], tf.float64) * multiplier
            new = []
            for s in state:
                y = a * tf.cast(s, tf.float64) + (1 - a) * y
                new.append(to_float32(y))
            state = tuple(new)
            outs = outs.write(t, to_float32(y + bias))
        return outs.stack(), state

    return scan
