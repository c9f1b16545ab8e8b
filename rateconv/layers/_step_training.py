"""Training for a step budget: `step_model` and `train_for_steps`.

`step_model` rewrites a Keras model into its step model (the layers of
`rateconv.layers._steps`: the converted network's binary spikes through
``n_steps`` steps, time folded into the batch); `train_for_steps` fine-tunes
that.  See `rateconv.layers._steps` for the layers and their converters.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from rateconv._checks import check_choice, check_int, check_positive
from rateconv.layers._quantized import QuantizedReLU
from rateconv.layers._soft_lif import SoftLIF
from rateconv.layers._spiking_aware import SpikingAware
from rateconv.layers._steps import (
    MeanOverSteps,
    RepeatSteps,
    StepIF,
    StepLIF,
    StepMaxPooling2D,
)
from rateconv.neurons import DT
from rateconv.registry import ConversionContext, converter_for

_IF_ACTIVATIONS = ("relu", "relu6", "leaky_relu")
"""Activation names (fused or in an ``Activation`` layer) that become `StepIF`."""

_SUPPORTED = (
    "ReLU-family activations (relu, relu6, leaky_relu; fused, Activation, ReLU, "
    "LeakyReLU, rateconv.QuantizedReLU), rateconv.SoftLIF, MaxPooling2D, a "
    "softmax on the output, and linear layers"
)


def _activation_name(layer):
    act = layer.get_config().get("activation")
    if isinstance(act, dict):  # a serialized function
        act = act.get("config", act.get("class_name"))
    return act if isinstance(act, str) else getattr(act, "__name__", str(act))


def _is_neuron(layer):
    """Whether the converter makes neurons of ``layer`` (an activation)."""
    fn = converter_for(type(layer))
    try:
        fields = fn(layer, ConversionContext()) if fn is not None else {}
    except (TypeError, ValueError):
        return False
    return fields.get("spiking_neuron") is not None


def _unsupported(layer, what):
    return TypeError(
        f"train_for_steps cannot train layer '{layer.name}' "
        f"({type(layer).__name__}) through time: {what}. It supports {_SUPPORTED}; "
        "replace the layer (e.g. max pooling 1D/3D by average pooling) and "
        "train the model again."
    )


class _Rewrite:
    """Clone function and call function that turn a model into its step model."""

    def __init__(self, n_steps, output_layers, initial_state, lif_gradient):
        self.n_steps = n_steps
        self.output_layers = output_layers
        self.initial_state = initial_state
        self.lif_gradient = lif_gradient
        self.after = {}  # cloned layer -> StepIF to call after it (fused relu)
        self.kept_threshold = set()  # StepIF names whose threshold is trained

    def clone(self, layer):
        config = layer.get_config()
        n = self.n_steps
        if isinstance(layer, keras.Model):
            raise _unsupported(layer, "a nested model (flatten it into one model)")
        if isinstance(layer, SpikingAware):
            config = {**layer.layer.get_config(), "name": layer.name}
            layer = layer.layer
        if isinstance(layer, QuantizedReLU):
            self.kept_threshold.add(layer.name)
            return StepIF(
                n,
                threshold=float(ops.convert_to_numpy(layer.threshold)),
                name=layer.name,
            )
        if isinstance(layer, SoftLIF):
            keys = ("sigma", "tau_rc", "tau_ref", "amplitude", "max_rate", "intercept")
            return StepLIF(
                n,
                **{k: config[k] for k in keys},
                name=layer.name,
                initial_state=self.initial_state,
                gradient=self.lif_gradient,
            )
        if isinstance(layer, (keras.layers.ReLU, keras.layers.LeakyReLU)):
            return StepIF(n, name=layer.name)
        if isinstance(layer, (keras.layers.Softmax, keras.layers.Activation)):
            act = (
                "softmax"
                if isinstance(layer, keras.layers.Softmax)
                else (_activation_name(layer))
            )
            if act in _IF_ACTIVATIONS:
                return StepIF(n, name=layer.name)
            if act == "linear":
                return keras.layers.Identity(name=layer.name)
            if act == "softmax" and layer.name in self.output_layers:
                return keras.layers.Identity(name=layer.name)
            raise _unsupported(layer, f"activation '{act}'")
        if type(layer) is keras.layers.MaxPooling2D:
            return StepMaxPooling2D(n, **config)
        if "pool" in type(layer).__name__.lower() and "Max" in type(layer).__name__:
            raise _unsupported(layer, "max pooling other than MaxPooling2D")
        if isinstance(layer, keras.layers.BatchNormalization):
            config["trainable"] = False  # frozen: inference statistics
        act = config.get("activation")
        if act is not None:
            act = _activation_name(layer)
            if act in _IF_ACTIVATIONS or (
                act == "softmax" and layer.name in self.output_layers
            ):
                config["activation"] = "linear"
            elif act != "linear":
                raise _unsupported(layer, f"activation '{act}'")
        elif (
            isinstance(layer, keras.layers.Layer) and converter_for(type(layer)) is None
        ):
            raise _unsupported(layer, "rateconv has no converter for it")
        elif not layer.weights and _is_neuron(layer):
            raise _unsupported(layer, "a neuron layer with no step form")
        new = layer.__class__.from_config(config)
        if act in _IF_ACTIVATIONS:
            self.after[new] = StepIF(n, name=f"{layer.name}_if")
        return new

    def operation(self, layer):
        """The callable that replaces ``layer`` in the graph walk."""
        new = self.clone(layer)
        extra = self.after.get(new)
        if extra is None:
            return new
        return lambda *args, **kwargs: extra(new(*args, **kwargs))


def _as_functional(model):
    if not isinstance(model, keras.Model):
        raise TypeError(
            "model must be a Keras Sequential or functional model. Received: "
            f"{type(model).__name__}"
        )
    if isinstance(model, keras.Sequential):
        inputs = keras.Input(batch_shape=model.inputs[0].shape, name="input")
        x = inputs
        for layer in model.layers:
            x = layer(x)
        return keras.Model(inputs, x, name=model.name)
    if not hasattr(model, "_run_through_graph"):
        raise TypeError(
            f"Model '{model.name}' ({type(model).__name__}) is subclassed; "
            "train_for_steps rebuilds Sequential and functional models only."
        )
    return model


def _output_layers(model):
    names = set()
    for t in model.outputs:
        names.add(t._keras_history[0].name)
    return names


def step_model(
    model,
    n_steps,
    calibration_data=None,
    *,
    percentile=99.0,
    initial_state="zero",
    lif_gradient="step",
):
    """Copy of ``model`` that computes its converted network's spikes over ``n_steps``.

    The input is repeated ``n_steps`` times (`RepeatSteps`), each activation
    becomes its spiking neurons run through the steps (`StepIF` for the ReLU
    family, with a trainable threshold; `StepLIF` for `rateconv.SoftLIF`;
    `StepMaxPooling2D` for max pooling), batch normalization is frozen (it
    folds into the layer before it when converted) and the output is the
    mean over the steps (`MeanOverSteps`), without the output's softmax (the
    class is the same).  The weights are copied.  ``predict`` of the copy is
    what ``rateconv.convert(copy, probe_synapse=None, readout="mean")``
    outputs after ``n_steps`` steps.

    Parameters
    ----------
    model : keras.Model
        A trained Sequential or functional model.
    n_steps : int
        The step budget.
    calibration_data : array or None
        Training inputs (a few hundred) that set each new threshold to the
        ``percentile`` of the layer's input (mean over the steps) and each
        `StepLIF`'s ``scale_firing_rates`` so that the ``percentile`` of its
        rate is one spike per step, layer by layer with the layers below
        already spiking.  Needed unless every activation is a
        `rateconv.QuantizedReLU` (whose trained threshold is kept).
    percentile : float
        See ``calibration_data``.
    initial_state : {"zero", "half"}
        Initial membrane voltage of the LIF neurons (IF neurons start at
        half).  Measured on the soft-LIF reference network at 4 steps (1,000
        test images, before fine-tuning): 92.0% from zero, 90.8% from half.
    lif_gradient : {"step", "mean"}
        `StepLIF`'s ``gradient``.

    Returns
    -------
    keras.Model
        Not compiled.

    Example
    -------
    >>> import keras, numpy as np
    >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, "relu"),
    ...                       keras.layers.Dense(2)])
    >>> s = step_model(m, 4, calibration_data=np.ones((10, 4), "float32"))
    >>> s.predict(np.ones((3, 4), "float32"), verbose=0).shape
    (3, 2)
    """
    n_steps = check_int("n_steps", n_steps)
    check_choice("initial_state", initial_state, ("zero", "half"))
    functional = _as_functional(model)
    check_choice("lif_gradient", lif_gradient, ("step", "mean"))
    rewrite = _Rewrite(n_steps, _output_layers(functional), initial_state, lif_gradient)
    inputs = [
        keras.Input(batch_shape=t.shape, dtype=t.dtype, name=t.name)
        for t in functional.inputs
    ]
    repeated = [
        RepeatSteps(n_steps, name=f"repeat_steps_{i}") for i in range(len(inputs))
    ]
    repeated = [r(t) for r, t in zip(repeated, inputs)]
    structure = repeated if isinstance(functional.input, (list, tuple)) else repeated[0]
    # Keras' own clone_model walks the graph this way (since Keras 3.0);
    # calling it directly lets the walk start from the repeated inputs
    outputs = functional._run_through_graph(structure, operation_fn=rewrite.operation)
    flat = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    means = [
        MeanOverSteps(n_steps, name=f"mean_over_steps_{i}")(o)
        for i, o in enumerate(flat)
    ]
    new = keras.Model(
        inputs if len(inputs) > 1 else inputs[0],
        means if len(means) > 1 else means[0],
        name=model.name,
    )
    for layer in functional.layers:
        if layer.weights and not isinstance(layer, QuantizedReLU):
            new.get_layer(layer.name).set_weights(layer.get_weights())
    _calibrate(new, calibration_data, percentile, rewrite.kept_threshold)
    return new


def _calibrate(model, data, percentile, kept):
    """Thresholds and LIF scales from ``data``, layer by layer (see `step_model`)."""
    todo = [
        layer
        for layer in model.layers
        if isinstance(layer, StepLIF)
        or (isinstance(layer, StepIF) and layer.name not in kept)
    ]
    if not todo:
        return
    if data is None:
        names = ", ".join(layer.name for layer in todo)
        raise ValueError(
            f"calibration_data is needed to set the thresholds of {names}: give "
            "a few hundred training inputs, e.g. calibration_data=x_train[:500]."
        )
    for layer in todo:
        probe = keras.Model(model.inputs, layer.input)
        z = np.asarray(probe.predict(data, batch_size=64, verbose=0), np.float64)
        z = z.reshape(layer.n_steps, -1, *z.shape[1:]).mean(axis=0)
        if isinstance(layer, StepIF):
            positive = z[z > 0]
            theta = np.percentile(positive, percentile) if positive.size else 1.0
            layer.threshold.assign(max(float(theta), 1e-3))
        else:
            rates = np.asarray(layer.soft(z.astype(np.float32))) / layer.soft.amplitude
            rate = float(np.percentile(rates, percentile))
            layer.scale_firing_rates = max(1.0, 1.0 / (max(rate, 1.0) * DT))


def train_for_steps(
    model,
    x,
    y,
    *,
    n_steps,
    epochs=2,
    batch_size=64,
    learning_rate=3e-4,
    calibration_size=500,
    percentile=99.0,
    initial_state="zero",
    lif_gradient="step",
    validation_data=None,
    callbacks=None,
    verbose="auto",
):
    """Fine-tune a trained Keras model to spike well in ``n_steps`` steps.

    The model is rewritten by `step_model` (the converted network's own
    binary spiking neurons, run through ``n_steps`` steps, in the forward pass;
    the rate gradient backward) and trained on ``(x, y)`` with Adam, the
    learning rate decaying to 0 along a cosine over ``epochs`` (batch norm
    frozen).  The result converts with the one call::

        net = rateconv.convert(trained, probe_synapse=None, readout="mean")

        and its spiking output after ``n_steps`` steps is ``trained.predict``
        (up to float rounding at the spikes' thresholds).

    Parameters
    ----------
    model : keras.Model
        A trained Sequential or functional classifier (see `step_model` for
        the layers it may have).  It is not changed.
    x, y : arrays
        Training inputs and labels (integer classes, or one-hot).
    n_steps : int
        The step budget the network is trained for.
    epochs, batch_size : int
        Of the fine-tune (each step costs about ``n_steps`` forward passes).
    learning_rate : float
        Initial Adam learning rate.
    calibration_size : int
        Training inputs that set the initial thresholds (`step_model`).
    percentile, initial_state, lif_gradient
        See `step_model`.
    validation_data, callbacks, verbose
        Passed to ``fit``.

    Returns
    -------
    keras.Model
        The fine-tuned step model, compiled (``evaluate`` gives the spiking
        accuracy at ``n_steps``).

    Example
    -------
    >>> import keras, numpy as np
    >>> x = np.random.default_rng(0).random((64, 4)).astype("float32")
    >>> y = (x[:, 0] > x[:, 1]).astype("int32")
    >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, "relu"),
    ...                       keras.layers.Dense(2)])
    >>> t = train_for_steps(m, x, y, n_steps=4, epochs=1, verbose=0)
    >>> t.predict(x[:2], verbose=0).shape
    (2, 2)
    """
    n_steps = check_int("n_steps", n_steps)
    epochs = check_int("epochs", epochs)
    batch_size = check_int("batch_size", batch_size)
    check_positive("learning_rate", learning_rate)
    calibration = (
        x[:calibration_size]
        if not isinstance(x, (list, tuple))
        else [a[:calibration_size] for a in x]
    )
    trained = step_model(
        model,
        n_steps,
        calibration,
        percentile=percentile,
        initial_state=initial_state,
        lif_gradient=lif_gradient,
    )
    n = len(x[0]) if isinstance(x, (list, tuple)) else len(x)
    total = max(1, epochs * int(np.ceil(n / batch_size)))
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, total)
    one_hot = np.ndim(y) > 1 and np.shape(y)[-1] > 1
    loss = (
        keras.losses.CategoricalCrossentropy(from_logits=True)
        if one_hot
        else keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    trained.compile(
        optimizer=keras.optimizers.Adam(schedule), loss=loss, metrics=["accuracy"]
    )
    trained.fit(
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        validation_data=validation_data,
        callbacks=callbacks,
        verbose=verbose,
    )
    return trained
