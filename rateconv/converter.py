"""Keras 3 model -> `SpikingNetwork`.

A registry maps each supported Keras layer class to a converter function,
registered next to it with `register_converter`.  Each layer becomes one
`Stage`: the layer itself with its activation removed (so rate mode computes
exactly what Keras computes), plus the neuron that replaces the activation.

Nonlinearities: ``relu`` becomes an integrate-and-fire neuron
(`SpikingRectifiedLinear`), `rateconv.SoftLIF` becomes `LIF` with the same
parameters, ``linear`` passes through, and ``softmax`` on an output layer is
applied to the filtered output probe.  Anything else is an error unless
``swap_activations`` says what to use.
"""

from __future__ import annotations

import dataclasses
import warnings

import keras
import numpy as np

from rateconv import neurons
from rateconv.layers import SoftLIF
from rateconv.network import INITIAL_STATES, SpikingNetwork, Stage
from rateconv.synapses import as_synapse

_REGISTRY = {}


def register_converter(*layer_classes):
    """Register ``fn(layer, ctx) -> dict`` as the converter of ``layer_classes``.

    The function returns the fields of the new `Stage` that differ from the
    defaults (``op``, ``activation``, ...); see the converters in this module.
    Classes match exactly, not by inheritance: a subclass may compute something
    else, so it needs its own converter.
    """

    def decorator(fn):
        for cls in layer_classes:
            _REGISTRY[cls] = fn
        return fn

    return decorator


def converter_for(layer_class):
    """The converter registered for ``layer_class`` (exact class), or None."""
    return _REGISTRY.get(layer_class)


def supported_layers():
    """Names of the Keras layer classes the converter knows, sorted."""
    return sorted(cls.__name__ for cls in _REGISTRY)


@dataclasses.dataclass
class _Context:
    swap_activations: dict
    max_to_avg_pool: bool
    model_outputs: set


def _error_prefix(layer):
    return f"Layer '{layer.name}' ({type(layer).__name__})"


# ---------------------------------------------------------------------------
# Activations -> neurons
# ---------------------------------------------------------------------------


def _activation_name(activation):
    if activation is None:
        return "linear"
    if isinstance(activation, str):
        return activation
    name = keras.activations.serialize(activation)
    if isinstance(name, dict):
        name = name.get("config", {}).get("name", name.get("class_name"))
    return str(name)


def _neurons_for(layer, activation, ctx):
    """(rate_neuron, spiking_neuron, readout) for an activation of ``layer``."""
    name = _activation_name(activation)
    for key in (layer.name, name):
        if key in ctx.swap_activations:
            neuron = ctx.swap_activations[key]
            if not isinstance(neuron, neurons.NeuronType):
                raise TypeError(
                    f"swap_activations values must be rateconv neuron types "
                    f"(e.g. rateconv.LIF(), rateconv.SpikingRectifiedLinear()). "
                    f"Received: swap_activations[{key!r}]={neuron!r}"
                )
            return neuron.as_rate(), neuron.as_spiking(), None
    if name == "linear":
        return None, None, None
    if name == "relu":
        neuron = neurons.RectifiedLinear()
        return neuron, neuron.as_spiking(), None
    if name == "softmax" and layer.name in ctx.model_outputs:
        return None, None, keras.activations.softmax
    raise ValueError(
        f"{_error_prefix(layer)} uses activation '{name}', which has no spiking "
        "equivalent. Use 'relu' or rateconv.SoftLIF when training, or map it "
        f"explicitly: convert(model, swap_activations={{'{name}': rateconv.LIF()}}) "
        "(this changes the function the network computes). 'softmax' is accepted "
        "on output layers only."
    )


def _without_activation(layer):
    """A copy of ``layer`` with ``activation='linear'`` and the same weights."""
    config = layer.get_config()
    if _activation_name(config.get("activation")) == "linear":
        return layer
    config["activation"] = "linear"
    clone = type(layer).from_config(config)
    clone.build(layer.input.shape)
    clone.set_weights(layer.get_weights())
    return clone


# ---------------------------------------------------------------------------
# Converters
# ---------------------------------------------------------------------------

_WEIGHTED = (
    keras.layers.Dense,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
)


@register_converter(*_WEIGHTED)
def _convert_weighted(layer, ctx):
    rate, spiking, readout = _neurons_for(layer, layer.get_config()["activation"], ctx)
    return dict(
        op=_without_activation(layer),
        rate_neuron=rate,
        spiking_neuron=spiking,
        readout=readout,
    )


@register_converter(
    keras.layers.AveragePooling1D,
    keras.layers.AveragePooling2D,
    keras.layers.AveragePooling3D,
    keras.layers.GlobalAveragePooling1D,
    keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalAveragePooling3D,
    keras.layers.Flatten,
    keras.layers.Reshape,
    keras.layers.Permute,
    keras.layers.ZeroPadding1D,
    keras.layers.ZeroPadding2D,
    keras.layers.ZeroPadding3D,
    keras.layers.Cropping1D,
    keras.layers.Cropping2D,
    keras.layers.Cropping3D,
    keras.layers.BatchNormalization,
    keras.layers.Rescaling,
)
def _convert_linear(layer, ctx):
    """Layers that are linear or affine in their inputs: run as they are."""
    return dict(op=layer)


@dataclasses.dataclass(frozen=True)
class _MergeOp:
    """A Keras merge layer, which takes a list, called as ``op(*tensors)``."""

    layer: keras.layers.Layer

    def __call__(self, *tensors):
        return self.layer(list(tensors))


@register_converter(
    keras.layers.Add,
    keras.layers.Subtract,
    keras.layers.Average,
    keras.layers.Concatenate,
)
def _convert_merge(layer, ctx):
    """Linear merges of several inputs (`Stage.op` takes them as arguments)."""
    return dict(op=_MergeOp(layer))


@register_converter(keras.layers.UpSampling1D, keras.layers.UpSampling2D)
def _convert_upsampling(layer, ctx):
    if getattr(layer, "interpolation", "nearest") not in ("nearest", "bilinear"):
        raise ValueError(
            f"{_error_prefix(layer)}: interpolation '{layer.interpolation}' is not "
            "linear; use 'nearest' or 'bilinear'."
        )
    return dict(op=layer)


@register_converter(
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D,
    keras.layers.SpatialDropout3D,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
    keras.layers.ActivityRegularization,
    keras.layers.Identity,
)
def _convert_identity(layer, ctx):
    """Layers that are the identity at inference."""
    return dict(op=None)


@register_converter(keras.layers.Activation)
def _convert_activation(layer, ctx):
    rate, spiking, readout = _neurons_for(layer, layer.get_config()["activation"], ctx)
    return dict(op=None, rate_neuron=rate, spiking_neuron=spiking, readout=readout)


@register_converter(keras.layers.ReLU)
def _convert_relu(layer, ctx):
    config = layer.get_config()
    if (
        config.get("max_value") is not None
        or config.get("negative_slope", 0) != 0
        or config.get("threshold", 0) != 0
    ):
        raise ValueError(
            f"{_error_prefix(layer)}: only the plain ReLU converts to spiking "
            "neurons; received max_value="
            f"{config.get('max_value')}, negative_slope="
            f"{config.get('negative_slope')}, threshold={config.get('threshold')}. "
            "Use keras.layers.ReLU() or map it with swap_activations."
        )
    rate, spiking, _ = _neurons_for(layer, "relu", ctx)
    return dict(op=None, rate_neuron=rate, spiking_neuron=spiking)


@register_converter(SoftLIF)
def _convert_softlif(layer, ctx):
    if layer.name in ctx.swap_activations or "softlif" in ctx.swap_activations:
        neuron = ctx.swap_activations.get(
            layer.name, ctx.swap_activations.get("softlif")
        )
        if not isinstance(neuron, neurons.NeuronType):
            raise TypeError(
                "swap_activations values must be rateconv neuron types. "
                f"Received: {neuron!r} for layer '{layer.name}'"
            )
        return dict(
            op=None, rate_neuron=neuron.as_rate(), spiking_neuron=neuron.as_spiking()
        )
    return dict(
        op=None, rate_neuron=layer.neuron, spiking_neuron=layer.neuron.as_spiking()
    )


@register_converter(
    keras.layers.MaxPooling1D,
    keras.layers.MaxPooling2D,
    keras.layers.GlobalMaxPooling1D,
    keras.layers.GlobalMaxPooling2D,
)
def _convert_max_pool(layer, ctx):
    config = layer.get_config()
    if ctx.max_to_avg_pool:
        avg_class = {
            keras.layers.MaxPooling1D: keras.layers.AveragePooling1D,
            keras.layers.MaxPooling2D: keras.layers.AveragePooling2D,
            keras.layers.GlobalMaxPooling1D: keras.layers.GlobalAveragePooling1D,
            keras.layers.GlobalMaxPooling2D: keras.layers.GlobalAveragePooling2D,
        }[type(layer)]
        config.pop("name", None)
        op = avg_class.from_config({**config, "name": layer.name + "_avg"})
        return dict(op=op)
    # exact in rate mode; in spiking mode each window passes on the input with
    # the largest running mean so far (the simulator implements this gate)
    return dict(op=layer, spiking_max_pool=config)


@register_converter(keras.layers.InputLayer)
def _convert_input(layer, ctx):
    return dict(op=None)


# ---------------------------------------------------------------------------
# Graph walking (public API only: the model's config describes its edges)
# ---------------------------------------------------------------------------


def _history_names(obj):
    """Names of the layers referenced by keras tensors in a node's config."""
    names = []
    if isinstance(obj, dict):
        if obj.get("class_name") == "__keras_tensor__":
            names.append(obj["config"]["keras_history"][0])
        else:
            for value in obj.values():
                names.extend(_history_names(value))
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            names.extend(_history_names(value))
    return names


def _endpoint_names(spec):
    # [name, node, tensor] for one endpoint, or a list of those
    if spec and isinstance(spec[0], str):
        return [spec[0]]
    return [s[0] for s in spec]


@dataclasses.dataclass
class _SequentialInput:
    """Stands for a Sequential model's input, which is not in ``model.layers``."""

    name: str
    shape: tuple

    @property
    def output(self):
        return self


def _model_graph(model):
    """``[(layer, input_names)]`` in topological order, inputs, outputs."""
    if isinstance(model, keras.Sequential):
        try:
            built_inputs = model.inputs
        except (AttributeError, ValueError):  # Keras raises when unbuilt
            built_inputs = None
        if not built_inputs:
            raise ValueError(
                f"Model '{model.name}' is not built: give it an input shape "
                "(keras.Input(shape=...) as its first layer) or call it on data "
                "once before converting."
            )
        layer_configs = model.get_config()["layers"]
        input_name = "input"
        if layer_configs and layer_configs[0]["class_name"] == "InputLayer":
            input_name = layer_configs[0]["config"]["name"]
        graph = [(_SequentialInput(input_name, model.inputs[0].shape), [])]
        prev = input_name
        for layer in model.layers:
            graph.append((layer, [prev]))
            prev = layer.name
        return graph, [input_name], [prev]
    if not isinstance(model, keras.Model) or not hasattr(model, "get_config"):
        raise TypeError(
            "convert() takes a Keras 3 Sequential or functional model. "
            f"Received: model of type {type(model).__name__}"
        )
    try:
        config = model.get_config()
    except NotImplementedError as e:
        raise TypeError(
            f"Model '{model.name}' is a subclassed keras.Model, whose layer graph "
            "cannot be read. Rebuild it as a Sequential or functional model."
        ) from e
    if "layers" not in config or "input_layers" not in config:
        raise TypeError(
            f"Model '{model.name}' ({type(model).__name__}) is not a Sequential "
            "or functional model; rebuild it with keras.Input and layer calls."
        )
    graph = []
    for layer_config in config["layers"]:
        nodes = layer_config.get("inbound_nodes", [])
        if len(nodes) > 1:
            raise ValueError(
                f"Layer '{layer_config['name']}' is called {len(nodes)} times "
                "(a shared layer); rateconv needs each layer called once. Use "
                "separate layers with the same weights."
            )
        inputs = _history_names(nodes[0]) if nodes else []
        graph.append((model.get_layer(layer_config["name"]), inputs))
    return (
        graph,
        _endpoint_names(config["input_layers"]),
        _endpoint_names(config["output_layers"]),
    )


# ---------------------------------------------------------------------------
# Batch-norm folding
# ---------------------------------------------------------------------------

_FOLDABLE = (
    keras.layers.Dense,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
)


def _fold_batch_norm(stage, bn):
    """Fold inference-mode ``bn`` into ``stage.op`` (Dense/Conv); True if done."""
    op = stage.op
    if (
        type(op) not in _FOLDABLE
        or stage.spiking_neuron is not None
        or stage.readout is not None
        or bn.axis not in (-1, len(op.output.shape) - 1)
        or getattr(op, "data_format", "channels_last") != "channels_last"
    ):
        return False
    gamma = bn.gamma.numpy() if bn.scale else 1.0
    beta = bn.beta.numpy() if bn.center else 0.0
    scale = gamma / np.sqrt(bn.moving_variance.numpy() + bn.epsilon)
    shift = beta - bn.moving_mean.numpy() * scale
    kernel = op.kernel.numpy() * scale
    bias = (op.bias.numpy() if op.use_bias else 0.0) * scale + shift
    config = op.get_config()
    config.update(use_bias=True, name=op.name + "_bnfold")
    folded = type(op).from_config(config)
    folded.build(op.input.shape)
    folded.set_weights([kernel, bias.astype(kernel.dtype)])
    stage.op = folded
    stage.kind = f"{stage.kind}+BatchNormalization"
    return True


# ---------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------


def convert(
    model,
    *,
    swap_activations=None,
    scale_firing_rates=1.0,
    synapse=None,
    max_to_avg_pool=False,
    fold_batch_norm=True,
    reset=None,
    initial_state=None,
):
    """Convert a Keras 3 model into a `SpikingNetwork`.

    Parameters
    ----------
    model : keras.Model
        A built Sequential or functional model whose layers are all supported
        (see `supported_layers`).
    swap_activations : dict or None
        Maps an activation name (``"relu"``, ``"softlif"``, ``"tanh"`` ...) or a
        layer name to a rateconv neuron type, overriding the default mapping
        (``relu`` -> `SpikingRectifiedLinear`, `SoftLIF` -> `LIF`).  Rate mode
        uses the neuron's rate counterpart.
    scale_firing_rates : float or dict
        Multiplies each neuron's input and divides its amplitude by this factor
        (a dict maps layer names to factors; missing layers get 1).  Exact for
        ReLU in rate mode and more spikes per step in spiking mode; for LIF it
        changes the rate curve (a warning says so).
    synapse : float, rateconv.Lowpass, rateconv.Alpha or None
        Filter on every connection leaving a spiking layer, in spiking mode
        (a float is a lowpass time constant in seconds).
    max_to_avg_pool : bool
        Replace max pooling by average pooling (in rate and spiking mode).
        Otherwise max pooling is exact in rate mode and, in spiking mode, each
        window outputs the increase of the running maximum of its inputs'
        cumulative sums, so its time-average converges to the max of the input
        rates (exact over a run; a spike may be delayed, never invented).
    fold_batch_norm : bool
        Fold inference-mode batch normalization into the preceding Dense/Conv
        layer where there is one (exact up to float rounding).
    reset : {None, "zero", "subtract"}
        Voltage after a spike for every spiking neuron (LIF and IF alike).
        None keeps each type's default: zero for LIF (as in Nengo), subtraction
        for IF (unbiased rates, Rueckauer et al. 2017).  Subtraction keeps the
        charge above threshold and helps accuracy at few steps.
    initial_state : {None, "zero", "half", "uniform"}
        Membrane voltage at the start of a run, as a fraction of threshold:
        0, 0.5, or uniform in [0, 1) drawn from the simulation seed.  Half
        threshold removes the rounding bias of the first spikes (Bu et al. 2022)
        and so cuts the error at few steps.  None keeps each layer's converter
        default (zero, half for quantized ReLU).  Rate mode is unaffected.

    Returns
    -------
    SpikingNetwork
    """
    swap_activations = dict(swap_activations or {})
    synapse = as_synapse(synapse, "synapse")
    if reset not in (None, "zero", "subtract"):
        raise ValueError(
            f"reset must be None, 'zero' or 'subtract'. Received: reset={reset!r}"
        )
    if initial_state not in (None,) + INITIAL_STATES:
        raise ValueError(
            f"initial_state must be None or one of {INITIAL_STATES}. "
            f"Received: initial_state={initial_state!r}"
        )
    graph, input_names, output_names = _model_graph(model)
    ctx = _Context(swap_activations, bool(max_to_avg_pool), set(output_names))

    if isinstance(scale_firing_rates, dict):
        unknown = set(scale_firing_rates) - {layer.name for layer, _ in graph}
        if unknown:
            raise ValueError(
                f"scale_firing_rates names layers not in the model: "
                f"{sorted(unknown)}. Layers: {[layer.name for layer, _ in graph]}"
            )
        scales = dict(scale_firing_rates)
    elif isinstance(scale_firing_rates, (int, float)) and scale_firing_rates > 0:
        scales = {layer.name: float(scale_firing_rates) for layer, _ in graph}
    else:
        raise ValueError(
            "scale_firing_rates must be a positive number or a dict of layer "
            f"names to positive numbers. Received: {scale_firing_rates!r}"
        )

    n_readers = {layer.name: 0 for layer, _ in graph}
    for _, inbound in graph:
        for name in inbound:
            n_readers[name] += 1

    stages = []
    alias = {}  # identity layers resolve to their input's stage
    for layer, inbound in graph:
        if isinstance(layer, keras.Model):
            raise TypeError(
                f"{_error_prefix(layer)} is a nested model; rateconv converts "
                "flat models. Rebuild it with the inner model's layers called "
                "directly."
            )
        if isinstance(layer, _SequentialInput):
            stages.append(
                Stage(layer.name, "InputLayer", [], None, tuple(layer.shape[1:]))
            )
            continue
        fn = _REGISTRY.get(type(layer))
        if fn is None:
            raise TypeError(
                f"{_error_prefix(layer)} has no spiking converter. Supported: "
                f"{', '.join(supported_layers())}. Register one with "
                f"@rateconv.register_converter({type(layer).__name__})."
            )
        fields = fn(layer, ctx)
        inputs = [alias.get(n, n) for n in inbound]
        shape = tuple(layer.output.shape[1:])
        if fields.get("op") is None and "rate_neuron" not in fields and inputs:
            alias[layer.name] = inputs[0]
            continue
        stage = Stage(
            name=layer.name,
            kind=type(layer).__name__,
            inputs=inputs,
            output_shape=shape,
            **fields,
        )
        if (
            fold_batch_norm
            and isinstance(layer, keras.layers.BatchNormalization)
            and len(inputs) == 1
        ):
            prev = next(s for s in stages if s.name == inputs[0])
            if (
                n_readers[inputs[0]] == 1
                and inputs[0] == inbound[0]
                and inputs[0] not in output_names
                and _fold_batch_norm(prev, layer)
            ):
                alias[layer.name] = prev.name
                continue
        if stage.spiking_neuron is not None:
            if reset is not None and hasattr(stage.spiking_neuron, "reset"):
                stage.spiking_neuron = dataclasses.replace(
                    stage.spiking_neuron, reset=reset
                )
            if initial_state is not None:
                stage.initial_state = initial_state
            k = scales.get(layer.name, 1.0)
            if k != 1.0:
                if not stage.rate_neuron.is_linear_in_scale:
                    warnings.warn(
                        f"scale_firing_rates={k:g} on layer '{layer.name}' "
                        f"({type(stage.spiking_neuron).__name__}) changes its rate "
                        "curve: only ReLU without bias is scale-invariant. Rate mode "
                        "will differ from the Keras model.",
                        stacklevel=2,
                    )
                stage.rate_neuron = stage.rate_neuron.scaled(k)
                stage.spiking_neuron = stage.spiking_neuron.scaled(k)
            stage.synapse = synapse
        stages.append(stage)

    # an identity layer feeding nothing but the output must not vanish
    outputs = [alias.get(n, n) for n in output_names]
    inputs = [alias.get(n, n) for n in input_names]
    return SpikingNetwork(stages, inputs, outputs, name=model.name)


class Converter:
    """NengoDL-style converter: the converted network and a rate-mode check.

    ``rateconv.Converter(model, **options).net`` is
    ``rateconv.convert(model, **options)``; `verify` checks that the converted
    network in rate mode computes what the Keras model computes, as NengoDL's
    ``Converter.verify`` does.

    Parameters
    ----------
    model : keras.Model
        A built Sequential or functional model.
    **options
        Keyword arguments of `convert` (``swap_activations``,
        ``scale_firing_rates``, ``synapse``, ...).

    Attributes
    ----------
    model : keras.Model
    net : SpikingNetwork
    options : dict
    """

    def __init__(self, model, **options):
        self.model = model
        self.options = dict(options)
        self.net = convert(model, **options)

    def verify(self, x, *, rtol=1e-4, atol=1e-5, batch_size=None):
        """Check rate mode of the converted network against ``model.predict``.

        Parameters
        ----------
        x : array or list of arrays
            Inputs, one array per model input.
        rtol, atol : float
            Tolerances of the comparison (``numpy.allclose`` style), per output.
        batch_size : int or None
            Samples per batch, for both.

        Returns
        -------
        bool
            True when every output matches.

        Raises
        ------
        ValueError
            When an output differs: names it and gives the largest difference.
            Expected when an option changes the rate function, e.g.
            ``swap_activations`` replacing an activation by another curve.
        """
        from rateconv.simulator import Simulator

        sim = Simulator(self.net, minibatch_size=batch_size, progress=False)
        ours = sim.predict(x, mode="rate")
        keras_out = self.model.predict(x, batch_size=batch_size, verbose=0)
        ours = ours if isinstance(ours, list) else [ours]
        keras_out = keras_out if isinstance(keras_out, (list, tuple)) else [keras_out]
        for name, a, b in zip(self.net.outputs, ours, keras_out):
            a, b = np.asarray(a), np.asarray(b)
            if a.shape != b.shape or not np.allclose(a, b, rtol=rtol, atol=atol):
                diff = (
                    float(np.max(np.abs(a - b)))
                    if a.shape == b.shape
                    else f"shapes {a.shape} and {b.shape}"
                )
                raise ValueError(
                    f"Output '{name}' of the converted network in rate mode "
                    f"differs from model.predict (largest difference {diff}, "
                    f"rtol={rtol}, atol={atol}). Options that change the rate "
                    "function (swap_activations, a neuron type that is not "
                    f"scale-invariant) explain this; options: {self.options}"
                )
        return True
