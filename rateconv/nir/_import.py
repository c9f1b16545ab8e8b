"""Import a NIR graph as a `rateconv.SpikingNetwork`.

`import_nir` reads the node types `rateconv.export_nir` writes, with the same
conventions (see `rateconv.nir`: time in seconds, a spike a Dirac delta
of area 1, NIR tensors channels first without a batch axis), so a network
trained in Norse, snnTorch or Sinabs and exported to NIR runs in rateconv's
simulator, and ``import_nir(export_nir(net))`` runs as ``net`` does.

==========================  ===============================================
NIR node                    rateconv stage
==========================  ===============================================
``Input``                   an input, channels last
``Affine``, ``Linear``      Dense (input rows permuted after a Flatten)
``Conv2d``                  ZeroPadding2D (integer padding) and Conv2D
``SumPool2d``               AveragePooling2D times ``k**2`` (no padding)
``AvgPool2d``               AveragePooling2D (no padding)
``Flatten``                 Flatten of the whole sample
``Scale``                   elementwise product
``IF``                      `SpikingRectifiedLinear`, reset by subtraction
                            (NIR's reset at the crossing, see the
                            discretisation in `rateconv.nir`)
``LIF``                     `LIF` with ``tau_ref=0``, reset to zero and no
                            voltage floor
``LI`` after IF / LIF       the neuron stage's synapse (`Lowpass`; two
                            equal ones: `Alpha`)
``LI`` before ``Output``    the network's ``probe_synapse``
``Output``                  an output
==========================  ===============================================

Several edges into one node sum (an Add stage).  Neuron parameters may differ
per neuron except ``tau``; ``r / v_threshold`` becomes the neuron's gain and
``v_leak / v_threshold`` its bias (elementwise, on a stage of their own, where
they differ).  ``v_reset`` must be 0 (rateconv's neurons restart from 0);
other node types (``CubaLIF``, ``Delay``, ``Conv1d``, subgraphs, recurrent
edges) are refused by name.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import keras
import numpy as np
from keras import ops

from rateconv import neurons
from rateconv.network import SpikingNetwork, Stage
from rateconv.nir._conventions import nir_package
from rateconv.synapses import Alpha, Lowpass


@dataclasses.dataclass(frozen=True, eq=False)
class _SumOp:
    """Several edges into one NIR node: their sum."""

    def __call__(self, *tensors):
        total = tensors[0]
        for t in tensors[1:]:
            total = total + t
        return total


@dataclasses.dataclass(frozen=True, eq=False)
class _ElementwiseOp:
    """``x * scale + shift``, elementwise (arrays in Keras layout)."""

    scale: np.ndarray
    shift: np.ndarray | None = None

    def __call__(self, x):
        y = x * ops.convert_to_tensor(self.scale, dtype=x.dtype)
        if self.shift is not None:
            y = y + ops.convert_to_tensor(self.shift, dtype=x.dtype)
        return y


@dataclasses.dataclass(frozen=True, eq=False)
class _ScaledOp:
    """A Keras layer's output times a constant (sum pooling)."""

    layer: keras.layers.Layer
    factor: float

    def __call__(self, x):
        return self.layer(x) * self.factor


def _refuse(name, node, reason):
    raise ValueError(
        f"NIR node '{name}' ({type(node).__name__}) cannot be imported: {reason}"
    )


def _keras_layout(array, shape):
    """A per-neuron parameter of NIR ``shape`` in Keras (channels-last) order."""
    array = np.broadcast_to(np.asarray(array, np.float64), shape)
    return np.moveaxis(array, 0, -1) if len(shape) == 3 else array


def _uniform(array):
    array = np.asarray(array, np.float64)
    return array.size > 0 and np.all(array == array.flat[0])


def _layer_name(name):
    return name.replace("/", "_")


def _flatten_perm(shape):
    """NIR element ``i`` of a flattened ``(C, H, W)`` map is Keras' ``perm[i]``."""
    c, h, w = shape
    return np.arange(c * h * w).reshape(h, w, c).transpose(2, 0, 1).ravel()


def _topological(graph, name):
    preds = {n: [] for n in graph.nodes}
    succs = {n: [] for n in graph.nodes}
    for src, dst in graph.edges:
        for n in (src, dst):
            if n not in graph.nodes:
                raise ValueError(f"NIR graph edge ({src!r}, {dst!r}) names no node")
        preds[dst].append(src)
        succs[src].append(dst)
    order, ready = [], [n for n in graph.nodes if not preds[n]]
    remaining = {n: len(p) for n, p in preds.items()}
    while ready:
        node = ready.pop(0)
        order.append(node)
        for s in succs[node]:
            remaining[s] -= 1
            if remaining[s] == 0:
                ready.append(s)
    if len(order) < len(graph.nodes):
        cyclic = sorted(set(graph.nodes) - set(order))
        raise ValueError(
            f"NIR graph '{name}' has recurrent edges (through {cyclic}); "
            "rateconv simulates feed-forward networks only"
        )
    return order, preds, succs


class _Importer:
    def __init__(self, graph, name):
        self.nir = nir_package()
        self.graph = graph
        self.name = name
        self.order, self.preds, self.succs = _topological(graph, name)
        self.stages = {}  # name -> dict of Stage fields (changed until the end)
        self.value = {}  # node -> (stage name, perm or None, keras shape)
        self.inputs, self.outputs, self.probes = [], [], []

    def stage(self, name, kind, inputs, shape, op=None, **fields):
        self.stages[name] = dict(
            name=name, kind=kind, inputs=tuple(inputs), op=op,
            output_shape=tuple(int(d) for d in shape), **fields,
        )  # fmt: skip
        return name

    def source(self, node_name):
        """``(stage, perm, shape)`` feeding ``node_name`` (summing several)."""
        preds = self.preds[node_name]
        if not preds:
            _refuse(node_name, self.graph.nodes[node_name], "it has no input edge")
        values = [self.value[p] for p in preds]
        if len(values) == 1:
            return values[0]
        first = values[0]
        if any(
            v[2] != first[2] or (v[1] is None) != (first[1] is None) for v in values
        ):
            _refuse(node_name, self.graph.nodes[node_name], "its inputs differ")
        sum_name = self.stage(
            f"{node_name}.sum", "Add", [v[0] for v in values], first[2], _SumOp()
        )
        return sum_name, first[1], first[2]

    def run(self):
        nir = self.nir
        handlers = {
            nir.Input: self.input,
            nir.Output: self.output,
            nir.Affine: self.affine,
            nir.Linear: self.affine,
            nir.Conv2d: self.conv,
            nir.SumPool2d: self.pool,
            nir.AvgPool2d: self.pool,
            nir.Flatten: self.flatten,
            nir.Scale: self.scale,
            nir.IF: self.neuron,
            nir.LIF: self.neuron,
            nir.LI: self.li,
        }
        for name in self.order:
            node = self.graph.nodes[name]
            handler = handlers.get(type(node))
            if handler is None:
                _refuse(
                    name,
                    node,
                    "rateconv reads Input, Output, Affine, Linear, Conv2d, "
                    "SumPool2d, AvgPool2d, Flatten, Scale, IF, LIF and LI",
                )
            handler(name, node)
        return self.network()

    def network(self):
        probes = {p for p in self.probes}
        if len(probes) > 1:
            raise ValueError(
                f"NIR graph '{self.name}': its outputs are filtered differently "
                f"({sorted(map(repr, probes))}); rateconv has one probe filter"
            )
        stages = [Stage(**fields) for fields in self.stages.values()]
        return SpikingNetwork(
            stages,
            self.inputs,
            self.outputs,
            name=self.name,
            probe_synapse=probes.pop() if probes else None,
        )

    # ---------------------------------------------------------------- nodes

    def input(self, name, node):
        shape = tuple(int(d) for d in node.input_type["input"])
        keras_shape = (*shape[1:], shape[0]) if len(shape) == 3 else shape
        self.inputs.append(self.stage(name, "InputLayer", (), keras_shape))
        self.value[name] = (name, None, keras_shape)

    def output(self, name, node):
        stage, perm, shape = self.source(name)
        if perm is not None:
            _refuse(name, node, "a flattened feature map as an output")
        self.outputs.append(stage)

    def affine(self, name, node):
        stage, perm, shape = self.source(name)
        weight = np.asarray(node.weight, np.float32)
        if weight.ndim != 2 or len(shape) != 1 or shape[0] != weight.shape[1]:
            _refuse(name, node, f"weight {weight.shape} does not fit input {shape}")
        kernel = weight.T
        if perm is not None:
            kernel = np.empty_like(kernel)
            kernel[perm] = weight.T
        bias = getattr(node, "bias", None)
        bias = np.zeros(weight.shape[0]) if bias is None else np.asarray(bias)
        layer = keras.layers.Dense(weight.shape[0], name=_layer_name(name))
        layer.build((None, weight.shape[1]))
        layer.set_weights([kernel, np.broadcast_to(bias, (weight.shape[0],))])
        self.stage(name, "Dense", [stage], (weight.shape[0],), layer)
        self.value[name] = (name, None, (weight.shape[0],))

    def conv(self, name, node):
        stage, _, shape = self.source(name)
        weight = np.asarray(node.weight, np.float32)  # (Cout, Cin/g, kH, kW)
        if len(shape) != 3:
            _refuse(name, node, f"a 2D convolution needs a (C, H, W) input: {shape}")
        pad = node.padding
        keras_padding = "valid"
        if isinstance(pad, str):
            keras_padding = pad
        else:
            pad = tuple(int(p) for p in np.broadcast_to(pad, (2,)))
            if any(pad):
                padded = (shape[0] + 2 * pad[0], shape[1] + 2 * pad[1], shape[2])
                pad_layer = keras.layers.ZeroPadding2D(
                    pad, name=_layer_name(name) + "_pad"
                )
                stage = self.stage(
                    f"{name}.pad", "ZeroPadding2D", [stage], padded, pad_layer
                )
                shape = padded
        layer = keras.layers.Conv2D(
            weight.shape[0],
            weight.shape[2:],
            strides=tuple(int(s) for s in np.broadcast_to(node.stride, (2,))),
            padding=keras_padding,
            dilation_rate=tuple(int(d) for d in np.broadcast_to(node.dilation, (2,))),
            groups=int(node.groups),
            name=_layer_name(name),
        )
        layer.build((None, *shape))
        bias = np.zeros(weight.shape[0]) if node.bias is None else node.bias
        bias = np.broadcast_to(np.asarray(bias, np.float32), (weight.shape[0],))
        layer.set_weights([weight.transpose(2, 3, 1, 0), bias])
        out = tuple(int(d) for d in layer.compute_output_shape((None, *shape))[1:])
        self.stage(name, "Conv2D", [stage], out, layer)
        self.value[name] = (name, None, out)

    def pool(self, name, node):
        stage, _, shape = self.source(name)
        if np.any(np.asarray(node.padding) != 0):
            _refuse(name, node, "pooling with padding (NIR leaves its divisor open)")
        kernel = tuple(int(k) for k in np.broadcast_to(node.kernel_size, (2,)))
        strides = tuple(int(s) for s in np.broadcast_to(node.stride, (2,)))
        layer = keras.layers.AveragePooling2D(kernel, strides, name=_layer_name(name))
        out = tuple(int(d) for d in layer.compute_output_shape((None, *shape))[1:])
        op = layer
        if isinstance(node, self.nir.SumPool2d):
            op = _ScaledOp(layer, float(kernel[0] * kernel[1]))
        self.stage(name, type(node).__name__, [stage], out, op)
        self.value[name] = (name, None, out)

    def flatten(self, name, node):
        stage, perm, shape = self.source(name)
        if len(shape) == 1:
            self.value[name] = (stage, perm, shape)
            return
        size = int(np.prod(shape))
        layer = keras.layers.Flatten(name=_layer_name(name))
        self.stage(name, "Flatten", [stage], (size,), layer)
        nir_shape = (shape[-1], *shape[:-1])
        perm = _flatten_perm(nir_shape) if len(shape) == 3 else None
        self.value[name] = (name, perm, (size,))

    def scale(self, name, node):
        stage, perm, shape = self.source(name)
        scale = np.asarray(node.scale, np.float32)
        if perm is not None:
            keras_scale = np.empty_like(scale.ravel())
            keras_scale[perm] = scale.ravel()
        else:
            keras_scale = _keras_layout(scale, _nir_shape_of(shape)).astype(np.float32)
        self.stage(name, "Scale", [stage], shape, _ElementwiseOp(keras_scale))
        self.value[name] = (name, perm, shape)

    def neuron(self, name, node):
        stage, perm, shape = self.source(name)
        nir_shape = _nir_shape_of(shape)
        if np.any(np.asarray(node.v_reset) != 0):
            _refuse(name, node, "v_reset must be 0 (rateconv's neurons restart at 0)")
        theta = np.asarray(node.v_threshold, np.float64)
        if np.any(theta <= 0):
            _refuse(name, node, "v_threshold must be positive")
        gain = np.asarray(node.r, np.float64) / theta
        is_lif = isinstance(node, self.nir.LIF)
        bias = np.asarray(node.v_leak, np.float64) / theta if is_lif else 0.0
        op = None
        if not (_uniform(gain) and _uniform(bias)) or perm is not None:
            g = _keras_layout(gain, nir_shape)
            b = _keras_layout(bias, nir_shape)
            if perm is not None:
                g, b = (_permuted(a, perm, nir_shape) for a in (gain, bias))
            op = _ElementwiseOp(g.astype(np.float32), b.astype(np.float32))
            gain, bias = 1.0, 0.0
        else:
            gain, bias = float(np.ravel(gain)[0]), float(np.ravel(bias)[0])
        if is_lif:
            tau = np.asarray(node.tau, np.float64)
            if not _uniform(tau):
                _refuse(name, node, "rateconv's LIF has one tau for all its neurons")
            spiking = neurons.LIF(
                tau_rc=float(tau.flat[0]), tau_ref=0.0, gain=gain, bias=bias,
                reset="zero", min_voltage=-math.inf,
            )  # fmt: skip
        else:
            spiking = neurons.SpikingRectifiedLinear(gain=gain, reset="subtract")
        self.stage(
            name, type(node).__name__, [stage], shape, op,
            rate_neuron=spiking.as_rate(), spiking_neuron=spiking,
        )  # fmt: skip
        self.value[name] = (name, perm, shape)

    def li(self, name, node):
        stage, perm, shape = self.source(name)
        succs = self.succs[name]
        r = np.asarray(node.r, np.float64)
        tau = np.asarray(node.tau, np.float64)
        if np.any(np.asarray(node.v_leak) != 0) or not _uniform(tau):
            _refuse(name, node, "rateconv's synapses have v_leak 0 and one tau")
        tau = float(tau.flat[0])
        fields = self.stages[stage]
        to_output = succs and all(
            isinstance(self.graph.nodes[s], (self.nir.Output, self.nir.LI))
            for s in succs
        )
        after_neuron = (
            fields.get("spiking_neuron") is not None
            and len(self.preds[name]) == 1
            and len(self.succs[self.preds[name][0]]) == 1
            and np.all(r == 1)
            and not any(isinstance(self.graph.nodes[s], self.nir.Output) for s in succs)
        )
        if after_neuron:
            fields["synapse"] = _chained(fields.get("synapse"), tau, name, node)
            self.value[name] = (stage, perm, shape)
            return
        if not to_output:
            _refuse(
                name,
                node,
                "a leaky integrator is read as a synapse after an IF/LIF node or "
                "as the probe filter before an Output; this one is neither",
            )
        if not np.all(r == 1):
            scale = _keras_layout(r, _nir_shape_of(shape)).astype(np.float32)
            stage = self.stage(
                f"{name}.r", "Scale", [stage], shape, _ElementwiseOp(scale)
            )
        previous = self.value.get(("probe", stage))
        self.value[("probe", stage)] = _chained(previous, tau, name, node)
        self.value[name] = (stage, perm, shape)
        if any(isinstance(self.graph.nodes[s], self.nir.Output) for s in succs):
            self.probes.append(self.value[("probe", stage)])


def _chained(synapse, tau, name, node):
    """A synapse followed by a lowpass of ``tau``: Lowpass, then Alpha."""
    if synapse is None:
        return Lowpass(tau)
    if type(synapse) is Lowpass and math.isclose(synapse.tau, tau):
        return Alpha(synapse.tau)
    _refuse(name, node, "only one LI, or two with the same tau, make a synapse")


def _nir_shape_of(keras_shape):
    shape = tuple(keras_shape)
    return (shape[-1], *shape[:-1]) if len(shape) == 3 else shape


def _permuted(array, perm, nir_shape):
    flat = np.broadcast_to(np.asarray(array, np.float64), nir_shape).ravel()
    out = np.empty_like(flat)
    out[perm] = flat
    return out


def import_nir(graph_or_path, *, name=None):
    """A `rateconv.SpikingNetwork` from a NIR graph (see `rateconv.nir`).

    Parameters
    ----------
    graph_or_path : nir.NIRGraph, str or Path
        A graph, or a NIR file (HDF5) to read with ``nir.read``.
    name : str or None
        The network's name (default: the file's stem, or ``"nir"``).

    Returns
    -------
    rateconv.SpikingNetwork
        Stage names are the NIR node names; synapse and probe ``LI`` nodes
        become the stages' synapses and the network's ``probe_synapse``
        (None when the outputs are not filtered), its readout ``"last"``.

    Raises
    ------
    ValueError
        Naming the node and the reason, for a node or parameter rateconv
        cannot simulate.

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
    >>> _ = rateconv.export_nir(rateconv.convert(model), path)
    >>> net = rateconv.import_nir(path)
    >>> sim = rateconv.Simulator(net, progress=False)
    >>> bool(np.allclose(sim.predict(x, mode="rate"), model.predict(x, verbose=0),
    ...                  atol=1e-4))
    True
    """
    nir = nir_package()
    if isinstance(graph_or_path, (str, Path)):
        path = Path(graph_or_path)
        if not path.is_file():
            raise FileNotFoundError(f"NIR file not found: {path}")
        try:
            graph = nir.read(path)
        except (OSError, KeyError, ValueError) as e:  # h5py on a non-NIR file
            raise ValueError(
                f"{path} is not a readable NIR file (HDF5 written by nir.write or "
                f"rateconv.export_nir): {e}. Re-export it, or check the path."
            ) from e
        name = name or path.stem
    elif isinstance(graph_or_path, nir.NIRGraph):
        graph = graph_or_path
    else:
        raise TypeError(
            "graph_or_path must be a nir.NIRGraph or the path of a NIR file. "
            f"Received: graph_or_path of type {type(graph_or_path).__name__}"
        )
    for node_name, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            _refuse(node_name, node, "nested graphs (subgraphs) are not supported")
    return _Importer(graph, name or "nir").run()


__all__ = ["import_nir"]
