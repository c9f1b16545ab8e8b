"""`build_network`: read the Keras graph, dispatch to the converters, run the passes."""

from __future__ import annotations

import dataclasses

import keras

from rateconv._checks import check_choice, check_positive
from rateconv.converter import _passes
from rateconv.converter._keras_graph import SequentialInput, describe, read_graph
from rateconv.converter._keras_ops import operation_fields
from rateconv.network import INITIAL_STATES, SpikingNetwork, Stage
from rateconv.neurons import check_max_spikes
from rateconv.registry import (
    CONVERTER_FIELDS,
    ConversionContext,
    converter_for,
    supported_layers,
)
from rateconv.synapses import as_synapse

RESETS = (None, "zero", "subtract")
"""Choices for `build_network`'s ``reset``."""


def build_network(
    model,
    *,
    swap_activations=None,
    scale_firing_rates=1.0,
    synapse=None,
    max_to_avg_pool=False,
    fold_batch_norm=True,
    reset=None,
    initial_state=None,
    max_spikes_per_step=None,
):
    """Build the `SpikingNetwork` of a Keras 3 model, one stage per layer.

    The data-free core of `rateconv.convert` (which adds the step-budget
    search on calibration data); `rateconv.Simulator` uses it for models.

    Each layer becomes one `Stage` (the layer with its activation removed, so
    rate mode computes exactly what Keras computes, plus the neuron that
    replaces the activation) by the converter registered for its class (see
    `register_converter`); then batch norms fold, identities vanish and the
    neuron options below apply.

    Nested Sequential and functional models are flattened: the stage of
    layer ``d`` in nested model ``inner`` is ``"inner/d"`` (``"inner/1/d"``
    for the second call when ``inner`` is called twice).  A layer called
    more than once (a shared layer) becomes one stage per call, ``"d/0"``,
    ``"d/1"``, ...; the stages share the layer's weights read-only (a pass
    that changes weights, such as batch-norm folding, works on a copy).
    ``keras.ops`` arithmetic in a functional graph converts where it is
    affine (``x * 0.5 + 1``, ``-x``, ``a + b``); its stage kind is
    ``"ops.<Class>"``.  Options that take layer names take these stage names.

    Parameters
    ----------
    model : keras.Model
        A built Sequential or functional model whose layers are all supported
        (see `supported_layers`).
    swap_activations : dict or None
        Maps an activation name (``"relu"``, ``"relu6"``, ``"leaky_relu"``,
        ``"softlif"``, ``"tanh"``, a custom function's ``__name__`` ...) or a
        stage or layer name to a rateconv neuron type, overriding the default
        mapping (``relu`` -> `SpikingRectifiedLinear`, ``relu6`` ->
        `SpikingClippedRectifiedLinear`, ``leaky_relu`` ->
        `SpikingLeakyRectifiedLinear`, `SoftLIF` -> `LIF`).  Rate mode
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
    max_spikes_per_step : int or None
        The spike budget of every integrate-and-fire neuron: at most this many
        spikes per neuron per step.  1 is binary spikes, what neuromorphic
        chips taking one-bit spikes run; more is graded spikes.  None imposes
        no limit (each neuron as its converter made it: integrate-and-fire
        unbounded).  LIF and QCFS neurons fire at most one spike per step
        whatever this says.  `SpikingNetwork.max_spikes_per_step` reports the network's.

    Returns
    -------
    SpikingNetwork
    """
    swap_activations = dict(swap_activations or {})
    synapse = as_synapse(synapse, "synapse")
    check_choice("reset", reset, RESETS)
    check_choice("initial_state", initial_state, (None, *INITIAL_STATES))
    max_spikes_per_step = check_max_spikes(max_spikes_per_step)
    graph = read_graph(model)
    scales = _firing_rate_scales(scale_firing_rates, [n.name for n in graph.nodes])
    ctx = ConversionContext(
        swap_activations=swap_activations,
        max_to_avg_pool=bool(max_to_avg_pool),
        model_outputs=frozenset(graph.outputs),
    )

    stages = [_convert_node(node, ctx, model.name) for node in graph.nodes]
    ctx.check_swaps_used()  # a misspelled key would change nothing, silently
    if fold_batch_norm:
        stages = _passes.fold_batch_norm(stages, outputs=graph.outputs)
    targets = _passes.identity_targets(stages)
    stages = _passes.resolve_identities(stages)
    stages = _passes.apply_neuron_options(
        stages,
        reset=reset,
        initial_state=initial_state,
        scale_firing_rates=scales,
        max_spikes_per_step=max_spikes_per_step,
    )
    stages = _passes.attach_synapses(stages, synapse)
    return SpikingNetwork(
        stages,
        [targets.get(n, n) for n in graph.inputs],
        [targets.get(n, n) for n in graph.outputs],
        name=model.name,
    )


def _firing_rate_scales(scale_firing_rates, layer_names):
    """``{layer name: factor}`` from `convert`'s ``scale_firing_rates``."""
    if isinstance(scale_firing_rates, dict):
        unknown = set(scale_firing_rates) - set(layer_names)
        if unknown:
            raise ValueError(
                f"scale_firing_rates names layers not in the model: "
                f"{sorted(unknown)}. Layers: {layer_names}"
            )
        return {
            name: check_positive(f"scale_firing_rates[{name!r}]", k)
            for name, k in scale_firing_rates.items()
        }
    k = check_positive(
        "scale_firing_rates",
        scale_firing_rates,
        hint="Or give a dict of layer names to positive numbers",
    )
    return {name: k for name in layer_names}


def _convert_node(node, ctx, model_name):
    """The `Stage` made of one call of a layer (or of a ``keras.ops`` op)."""
    layer = node.layer
    kind = type(layer).__name__
    fn = converter_for(type(layer))
    if isinstance(layer, SequentialInput):
        kind, fields = "InputLayer", {}
    elif fn is None and not isinstance(layer, keras.layers.Layer):
        # a keras.ops call in a functional graph (see _keras_ops)
        kind, fields = f"ops.{kind}", operation_fields(node, model_name)
    elif fn is None:
        raise TypeError(
            f"{describe(layer)} has no spiking converter. Supported: "
            f"{', '.join(supported_layers())}. Register one with "
            f"@rateconv.register_converter({type(layer).__name__})."
        )
    else:
        fields = fn(layer, dataclasses.replace(ctx, stage_name=node.name))
        unknown = (
            set(fields) - set(CONVERTER_FIELDS) if isinstance(fields, dict) else ()
        )
        if not isinstance(fields, dict) or unknown:
            raise TypeError(
                f"The converter of {describe(layer)} must return a dict with keys "
                f"among {CONVERTER_FIELDS}. Received: {fields!r}"
            )
    return Stage(
        name=node.name,
        kind=kind,
        inputs=node.inputs,
        output_shape=node.output_shape,
        **{"op": None, **fields},
    )
