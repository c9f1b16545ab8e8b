"""Conversion passes: each takes a list of stages and returns a new one.

`convert` runs them in this order on the stages the converters made, one per
Keras layer: `fold_batch_norm`, `resolve_identities`, `apply_neuron_options`,
`attach_synapses`.  Stages are frozen; a pass replaces a stage by a changed
copy (``dataclasses.replace``) and never edits one.
"""

from __future__ import annotations

import collections
import dataclasses
import warnings

import keras
import numpy as np

from rateconv.converter._keras_graph import clone_layer

FOLDABLE = (
    keras.layers.Dense,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
)
"""Layer classes a following batch normalization folds into."""


def is_identity(stage):
    """Whether ``stage`` passes its (first) input on unchanged."""
    return bool(
        stage.inputs
        and stage.op is None
        and stage.rate_neuron is None
        and stage.spiking_neuron is None
        and stage.readout is None
    )


# ---------------------------------------------------------------------------
# Batch-norm folding
# ---------------------------------------------------------------------------


def _folded(stage, bn, input_shape):
    """``stage`` with inference-mode ``bn`` folded into its op, or None."""
    op = stage.op
    if (
        type(op) not in FOLDABLE
        or stage.spiking_neuron is not None
        or stage.readout is not None
        or bn.axis not in (-1, len(stage.output_shape))
        or getattr(op, "data_format", "channels_last") != "channels_last"
    ):
        return None
    # y = gamma * (x - mean) / sqrt(var + eps) + beta  on  x = W h + b
    gamma = bn.gamma.numpy() if bn.scale else 1.0
    beta = bn.beta.numpy() if bn.center else 0.0
    scale = gamma / np.sqrt(bn.moving_variance.numpy() + bn.epsilon)
    shift = beta - bn.moving_mean.numpy() * scale
    kernel = op.kernel.numpy() * scale
    bias = (op.bias.numpy() if op.use_bias else 0.0) * scale + shift
    folded = clone_layer(
        op,
        input_shape=input_shape,
        weights=[kernel, bias.astype(kernel.dtype)],
        use_bias=True,
        name=op.name + "_bnfold",
    )
    return dataclasses.replace(
        stage, op=folded, kind=f"{stage.kind}+BatchNormalization"
    )


def fold_batch_norm(stages, *, outputs=()):
    """Fold each inference-mode batch norm into the Dense/Conv stage before it.

    A batch normalization folds (exactly, up to float rounding) when its one
    input is a linear Dense or Conv1D/2D/3D stage (channels last, no neuron)
    that nothing else reads and that is not a model output.  The folded stage
    gets the combined weights and the kind ``"<kind>+BatchNormalization"``;
    the batch norm stage becomes an identity, which `resolve_identities`
    removes.

    Parameters
    ----------
    stages : list of Stage
        In topological order, one per Keras layer (identities not resolved).
    outputs : collection of str
        Names of the model's output stages.

    Returns
    -------
    list of Stage
    """
    n_readers = collections.Counter(n for s in stages for n in s.inputs)
    position = {s.name: i for i, s in enumerate(stages)}
    result = list(stages)
    for i, stage in enumerate(stages):
        if not (
            isinstance(stage.op, keras.layers.BatchNormalization)
            and len(stage.inputs) == 1
        ):
            continue
        name = stage.inputs[0]
        if n_readers[name] != 1 or name in outputs:
            continue
        j = position[name]
        prev = result[j]
        input_shape = (
            (None, *result[position[prev.inputs[0]]].output_shape)
            if len(prev.inputs) == 1
            else None
        )
        folded = _folded(prev, stage.op, input_shape)
        if folded is not None:
            result[j] = folded
            result[i] = dataclasses.replace(stage, op=None)
    return result


# ---------------------------------------------------------------------------
# Identities
# ---------------------------------------------------------------------------


def identity_targets(stages):
    """``{identity stage name: the stage it resolves to}``."""
    targets = {}
    for stage in stages:
        if is_identity(stage):
            first = stage.inputs[0]
            targets[stage.name] = targets.get(first, first)
    return targets


def resolve_identities(stages):
    """Drop identity stages; their readers read the identity's input instead.

    Map the network's outputs with `identity_targets` of the same stages.
    """
    targets = identity_targets(stages)
    result = []
    for stage in stages:
        if stage.name in targets:
            continue
        if any(n in targets for n in stage.inputs):
            inputs = tuple(targets.get(n, n) for n in stage.inputs)
            stage = dataclasses.replace(stage, inputs=inputs)
        result.append(stage)
    return result


# ---------------------------------------------------------------------------
# Neuron options
# ---------------------------------------------------------------------------


def _has_field(obj, name):
    return any(f.name == name for f in dataclasses.fields(obj))


def apply_neuron_options(
    stages,
    *,
    reset=None,
    initial_state=None,
    scale_firing_rates=None,
    max_spikes_per_step=None,
):
    """Apply `convert`'s neuron options to every stage with a spiking neuron.

    Parameters
    ----------
    stages : list of Stage
    reset : {None, "zero", "subtract"}
        Replaces the spiking neuron's ``reset`` where it has one.
    initial_state : {None, "zero", "half", "uniform"}
        Replaces the stage's ``initial_state``.
    scale_firing_rates : dict or None
        Stage name -> factor ``k``: both neurons become ``neuron.scaled(k)``,
        with a warning where that changes the rate curve.
    max_spikes_per_step : int or None
        Replaces the spiking neuron's ``max_spikes_per_step`` where it has one
        (integrate-and-fire types; LIF and QCFS fire at most one anyway);
        None leaves each neuron's as its converter made it.

    Returns
    -------
    list of Stage
    """
    scales = scale_firing_rates or {}
    result = []
    for stage in stages:
        if stage.spiking_neuron is None:
            result.append(stage)
            continue
        rate, spiking = stage.rate_neuron, stage.spiking_neuron
        fields = {}
        if reset is not None and hasattr(spiking, "reset"):
            spiking = dataclasses.replace(spiking, reset=reset)
        if max_spikes_per_step is not None and _has_field(
            spiking, "max_spikes_per_step"
        ):
            spiking = dataclasses.replace(
                spiking, max_spikes_per_step=max_spikes_per_step
            )
        if initial_state is not None:
            fields["initial_state"] = initial_state
        k = scales.get(stage.name, 1.0)
        if k != 1.0:
            if not rate.is_linear_in_scale:
                warnings.warn(
                    f"scale_firing_rates={k:g} on layer '{stage.name}' "
                    f"({type(spiking).__name__}) changes its rate "
                    "curve: only ReLU without bias is scale-invariant. Rate mode "
                    "will differ from the Keras model.",
                    stacklevel=3,  # the caller of convert
                )
            rate, spiking = rate.scaled(k), spiking.scaled(k)
        result.append(
            dataclasses.replace(
                stage, rate_neuron=rate, spiking_neuron=spiking, **fields
            )
        )
    return result


def attach_synapses(stages, synapse):
    """Put ``synapse`` on the connections leaving every spiking stage."""
    return [
        stage
        if stage.spiking_neuron is None
        else dataclasses.replace(stage, synapse=synapse)
        for stage in stages
    ]
