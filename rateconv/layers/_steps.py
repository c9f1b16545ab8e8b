"""Training for a step budget: the converted network's own spikes, through time.

`train_for_steps` fine-tunes a trained Keras model so that it spikes well in
``n_steps`` steps with binary spikes (at most one spike per neuron per step).
The network is feedforward, so time folds into the batch: the input is
repeated ``n_steps`` times (`RepeatSteps`), the linear layers run on
``(n_steps * batch, ...)``, each neuron layer runs its exact spiking recurrence
over the ``n_steps`` axis (`StepIF`: integrate-and-fire with a trainable
threshold, reset by subtraction, membrane starting at half threshold;
`StepLIF`: the converter's LIF neurons of a `rateconv.SoftLIF`; max pooling
as the simulator pools spikes, `StepMaxPooling2D`), and the output is the mean
over the steps (`MeanOverSteps`).  The backward pass is the rate gradient at
each step (straight-through, as `rateconv.SpikingAware`).

Every layer added carries its converter, so ``rateconv.convert(model,
probe_synapse=None, readout="mean")`` gives the spiking network whose output,
simulated for ``n_steps`` steps, is what ``model.predict`` returns: training
and spiking are the same computation.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from rateconv._checks import check_choice, check_int, check_positive
from rateconv.layers._quantized import QuantizedReLU
from rateconv.layers._soft_lif import SoftLIF
from rateconv.layers._spiking_aware import SpikingAware
from rateconv.registry import (
    ConversionContext,
    converter_for,
    neuron_fields,
    register_converter,
)
from rateconv.neurons import DT, QuantizedReLURate, qcfs_step

_MIN_THRESHOLD = 1e-4


def _unfold(x, n_steps):
    """``(n_steps * batch, ...)`` -> ``(n_steps, batch, ...)``."""
    inner = tuple(x.shape[1:])
    if any(d is None for d in inner):
        inner = tuple(ops.shape(x)[1:])
    return ops.reshape(x, (n_steps, -1, *inner))


def _fold(x):
    """``(n_steps, batch, ...)`` -> ``(n_steps * batch, ...)``."""
    inner = tuple(x.shape[2:])
    if any(d is None for d in inner):
        inner = tuple(ops.shape(x)[2:])
    return ops.reshape(x, (-1, *inner))


class _Steps(keras.layers.Layer):
    """Base of the layers that know the step budget ``n_steps``."""

    def __init__(self, n_steps, **kwargs):
        super().__init__(**kwargs)
        self.n_steps = check_int("n_steps", n_steps)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "n_steps": self.n_steps}


@keras.saving.register_keras_serializable(package="rateconv")
class RepeatSteps(_Steps):
    """Present the input at each of ``n_steps`` steps: ``(n_steps * batch, ...)``.

    Step ``t`` of sample ``i`` is row ``t * batch + i``.  Converts to nothing
    (the simulator presents a still input at every step).

    Example
    -------
    >>> import numpy as np
    >>> tuple(RepeatSteps(3)(np.ones((2, 4))).shape)
    (6, 4)
    """

    def call(self, inputs):
        reps = (self.n_steps,) + (1,) * (len(inputs.shape) - 1)
        return ops.tile(inputs, reps)


@keras.saving.register_keras_serializable(package="rateconv")
class MeanOverSteps(_Steps):
    """Mean over the steps of a ``(n_steps * batch, ...)`` tensor: ``(batch, ...)``.

    The simulator's ``readout="mean"`` without a probe filter.  Converts to
    nothing (the readout does it).

    Example
    -------
    >>> import numpy as np
    >>> x = np.arange(6.0).reshape(6, 1)
    >>> np.asarray(MeanOverSteps(3)(x)).ravel().tolist()
    [2.0, 3.0]
    """

    def call(self, inputs):
        return ops.mean(_unfold(inputs, self.n_steps), axis=0)


@register_converter(RepeatSteps, MeanOverSteps)
def _convert_steps_identity(layer, ctx):
    """Time is the simulator's: these layers are the identity in the network."""
    return {"op": None}


@keras.saving.register_keras_serializable(package="rateconv")
class StepIF(_Steps):
    """Binary integrate-and-fire neurons run through ``n_steps`` steps.

    Input ``(n_steps * batch, ...)`` (see `RepeatSteps`).  At each step the
    membrane integrates ``x / threshold``, fires one spike when it reaches 1
    and subtracts it; it starts at half threshold.  A spike outputs
    ``threshold``.  This is `rateconv.neurons.qcfs_step`, the step of the
    `rateconv.SpikingQuantizedReLU` neurons the layer converts to (with
    ``levels = n_steps`` and its trained threshold), so the converted network
    fires the same spikes.  The gradient at each step is that of
    ``clip(x, 0, threshold)`` (with respect to the input and the threshold).

    Parameters
    ----------
    n_steps : int
        Steps of the run the layer is trained for.
    threshold : float
        Initial firing threshold (positive), trainable.
    **kwargs
        Standard `keras.layers.Layer` arguments.

    Example
    -------
    >>> import numpy as np
    >>> layer = StepIF(4, threshold=1.0)
    >>> x = np.full((4, 1), 0.5, "float32")  # one sample, 4 steps
    >>> np.asarray(layer(x)).ravel().tolist()  # spikes at steps 1 and 3
    [1.0, 0.0, 1.0, 0.0]
    """

    def __init__(self, n_steps, threshold=1.0, **kwargs):
        super().__init__(n_steps, **kwargs)
        self.initial_threshold = check_positive("threshold", threshold)

    def build(self, input_shape):
        self.threshold = self.add_weight(
            name="threshold",
            shape=(),
            initializer=keras.initializers.Constant(self.initial_threshold),
            constraint=keras.constraints.NonNeg(),
        )

    def call(self, inputs):
        x = _unfold(inputs, self.n_steps)
        theta = ops.maximum(ops.cast(self.threshold, x.dtype), _MIN_THRESHOLD)
        voltage = ops.full(ops.shape(x)[1:], 0.5, dtype=x.dtype)
        outputs = []
        for t in range(self.n_steps):
            spikes, voltage = qcfs_step(
                ops.stop_gradient(x[t]), voltage, threshold=ops.stop_gradient(theta)
            )
            surrogate = ops.minimum(ops.relu(x[t]), theta)
            outputs.append(surrogate + ops.stop_gradient(spikes - surrogate))
        return _fold(ops.stack(outputs))

    @property
    def neuron(self):
        """The `rateconv.QuantizedReLURate` with the current threshold."""
        theta = max(float(ops.convert_to_numpy(self.threshold)), _MIN_THRESHOLD)
        return QuantizedReLURate(levels=self.n_steps, threshold=theta)

    def get_config(self):
        return {**super().get_config(), "threshold": self.initial_threshold}


@register_converter(StepIF)
def _convert_step_if(layer, ctx):
    """StepIF -> SpikingQuantizedReLU (binary IF), membrane at half threshold."""
    return neuron_fields(layer.neuron, op=None, initial_state="half")


@keras.saving.register_keras_serializable(package="rateconv")
class StepLIF(_Steps):
    """The LIF neurons a `rateconv.SoftLIF` converts to, run through ``n_steps``.

    Input ``(n_steps * batch, ...)`` (see `RepeatSteps`).  The neurons are the
    soft-LIF layer's (same ``tau_rc``, ``tau_ref``, gain, bias, amplitude)
    scaled by ``scale_firing_rates`` (`rateconv.LIFRate.scaled`: ``k`` times
    faster, each spike ``1 / k`` as large; at most one spike per step), run
    with `rateconv.LIF`'s own step from the ``initial_state`` voltage.  The
    gradient at each step is that of the soft-LIF rate.  Converts to the same
    neurons and initial state.

    Parameters
    ----------
    n_steps : int
        Steps of the run the layer is trained for.
    sigma, tau_rc, tau_ref, amplitude, max_rate, intercept : float or None
        As in `rateconv.SoftLIF`.
    scale_firing_rates : float
        ``k`` (positive).
    initial_state : {"zero", "half"}
        Membrane voltage at the start, as a fraction of threshold.
    **kwargs
        Standard `keras.layers.Layer` arguments.

    Example
    -------
    >>> import numpy as np
    >>> layer = StepLIF(4, amplitude=0.01, max_rate=100, scale_firing_rates=10)
    >>> tuple(layer(np.ones((8, 3), "float32")).shape)
    (8, 3)
    """

    def __init__(
        self,
        n_steps,
        sigma=0.02,
        tau_rc=0.02,
        tau_ref=0.002,
        amplitude=1.0,
        max_rate=None,
        intercept=None,
        scale_firing_rates=1.0,
        initial_state="zero",
        **kwargs,
    ):
        super().__init__(n_steps, **kwargs)
        self.soft = SoftLIF(
            sigma=sigma,
            tau_rc=tau_rc,
            tau_ref=tau_ref,
            amplitude=amplitude,
            max_rate=max_rate,
            intercept=intercept,
        )
        self.scale_firing_rates = check_positive(
            "scale_firing_rates", scale_firing_rates
        )
        self.initial_state = check_choice(
            "initial_state", initial_state, ("zero", "half")
        )

    @property
    def rate_neuron(self):
        """The soft-LIF rate neurons, scaled (their rate is the layer's rate)."""
        return self.soft.neuron.scaled(self.scale_firing_rates)

    def call(self, inputs):
        x = _unfold(inputs, self.n_steps)
        neuron = self.rate_neuron.as_spiking()
        state = neuron.initial_state(
            tuple(ops.shape(x)[1:]), self.initial_state, dtype=x.dtype
        )
        outputs = []
        for t in range(self.n_steps):
            spikes, state = neuron.step(ops.stop_gradient(x[t]), state, DT)
            rate = ops.cast(self.soft(x[t]), x.dtype)
            outputs.append(rate + ops.stop_gradient(spikes - rate))
        return _fold(ops.stack(outputs))

    def get_config(self):
        soft = self.soft
        return {
            **super().get_config(),
            "sigma": soft.sigma,
            "tau_rc": soft.tau_rc,
            "tau_ref": soft.tau_ref,
            "amplitude": soft.amplitude,
            "max_rate": soft.max_rate,
            "intercept": soft.intercept,
            "scale_firing_rates": self.scale_firing_rates,
            "initial_state": self.initial_state,
        }


@register_converter(StepLIF)
def _convert_step_lif(layer, ctx):
    """StepLIF -> the scaled LIF neurons with the layer's initial state."""
    return neuron_fields(
        layer.rate_neuron, op=None, initial_state=layer.initial_state
    )


@keras.saving.register_keras_serializable(package="rateconv")
class StepMaxPooling2D(keras.layers.MaxPooling2D):
    """2D max pooling of spike trains, as the simulator pools them.

    Input ``(n_steps * batch, ...)``.  Each window outputs at step ``t`` the
    increase of the max over its inputs' running sums: ``max(S_t) -
    max(S_{t-1})`` with ``S_t`` the sum of the inputs up to step ``t`` (so the
    output's running sum is the max of the inputs' running sums).  Converts to
    ``MaxPooling2D``, which the simulator runs that way.

    Parameters
    ----------
    n_steps : int
        Steps of the run.
    **kwargs
        ``keras.layers.MaxPooling2D`` arguments.

    Example
    -------
    >>> import numpy as np
    >>> pool = StepMaxPooling2D(2, pool_size=2)
    >>> tuple(pool(np.ones((4, 4, 4, 1), "float32")).shape)
    (4, 2, 2, 1)
    """

    def __init__(self, n_steps, **kwargs):
        super().__init__(**kwargs)
        self.n_steps = check_int("n_steps", n_steps)

    def call(self, inputs):
        x = _unfold(inputs, self.n_steps)
        total = None
        sums = []
        for t in range(self.n_steps):
            total = x[t] if total is None else total + x[t]
            sums.append(total)
        maxes = _unfold(super().call(_fold(ops.stack(sums))), self.n_steps)
        previous = ops.concatenate([ops.zeros_like(maxes[:1]), maxes[:-1]], axis=0)
        return _fold(maxes - previous)

    def get_config(self):
        return {**super().get_config(), "n_steps": self.n_steps}


@register_converter(StepMaxPooling2D)
def _convert_step_max_pool(layer, ctx):
    """The simulator pools spike trains this way: convert as MaxPooling2D."""
    config = layer.get_config()
    config.pop("n_steps")
    plain = keras.layers.MaxPooling2D.from_config(config)
    plain.build(layer.input.shape)
    return converter_for(keras.layers.MaxPooling2D)(plain, ctx)


# ---------------------------------------------------------------------------
# The model rewrite
# ---------------------------------------------------------------------------

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

    def __init__(self, n_steps, output_layers, initial_state):
        self.n_steps = n_steps
        self.output_layers = output_layers
        self.initial_state = initial_state
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
            return StepIF(n, threshold=float(ops.convert_to_numpy(layer.threshold)),
                          name=layer.name)
        if isinstance(layer, SoftLIF):
            keys = ("sigma", "tau_rc", "tau_ref", "amplitude", "max_rate", "intercept")
            return StepLIF(n, **{k: config[k] for k in keys}, name=layer.name,
                           initial_state=self.initial_state)
        if isinstance(layer, (keras.layers.ReLU, keras.layers.LeakyReLU)):
            return StepIF(n, name=layer.name)
        if isinstance(layer, (keras.layers.Softmax, keras.layers.Activation)):
            act = "softmax" if isinstance(layer, keras.layers.Softmax) else (
                _activation_name(layer))
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
            if act in _IF_ACTIVATIONS or (act == "softmax" and layer.name in self.output_layers):
                config["activation"] = "linear"
            elif act != "linear":
                raise _unsupported(layer, f"activation '{act}'")
        elif isinstance(layer, keras.layers.Layer) and converter_for(type(layer)) is None:
            raise _unsupported(layer, "rateconv has no converter for it")
        elif not layer.weights and _is_neuron(layer):
            raise _unsupported(layer, "a neuron layer with no step form")
        new = layer.__class__.from_config(config)
        if act in _IF_ACTIVATIONS:
            self.after[new] = StepIF(n, name=f"{layer.name}_if")
        return new

    def call(self, layer, *args, **kwargs):
        out = layer(*args, **kwargs)
        extra = self.after.get(layer)
        return out if extra is None else extra(out)


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
    model, n_steps, calibration_data=None, *, percentile=99.0, initial_state="zero"
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
    rewrite = _Rewrite(n_steps, _output_layers(functional), initial_state)
    inputs = [
        keras.Input(batch_shape=t.shape, dtype=t.dtype, name=t.name)
        for t in functional.inputs
    ]
    repeated = [RepeatSteps(n_steps, name=f"repeat_steps_{i}") for i in range(len(inputs))]
    repeated = [r(t) for r, t in zip(repeated, inputs)]
    structure = repeated if isinstance(functional.input, (list, tuple)) else repeated[0]
    # Keras' own clone_model walks the graph this way; calling it directly
    # lets the walk start from the repeated inputs
    outputs = functional._run_through_graph(
        structure, operation_fn=rewrite.clone, call_fn=rewrite.call
    )
    flat = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    means = [MeanOverSteps(n_steps, name=f"mean_over_steps_{i}")(o) for i, o in enumerate(flat)]
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
        layer for layer in model.layers
        if isinstance(layer, StepLIF) or (isinstance(layer, StepIF) and layer.name not in kept)
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
    percentile, initial_state
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
    calibration = x[:calibration_size] if not isinstance(x, (list, tuple)) else [
        a[:calibration_size] for a in x
    ]
    trained = step_model(
        model, n_steps, calibration, percentile=percentile, initial_state=initial_state
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
