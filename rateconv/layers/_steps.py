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
from keras import ops

from rateconv._checks import check_choice, check_int, check_positive
from rateconv.layers._soft_lif import SoftLIF
from rateconv.neurons import DT, QuantizedReLURate, qcfs_step
from rateconv.registry import (
    converter_for,
    neuron_fields,
    register_converter,
)

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
        # concatenation keeps the static shape (Keras 3.3's tile loses it)
        if self.n_steps == 1:
            return inputs
        return ops.concatenate([inputs] * self.n_steps, axis=0)


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
    gradient : {"step", "mean"}
        The soft-LIF rate gradient at each step's input, or at the input's
        mean over the steps (the rate network's gradient of the mean output).
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
        gradient="step",
        **kwargs,
    ):
        super().__init__(n_steps, **kwargs)
        self.gradient = check_choice("gradient", gradient, ("step", "mean"))
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

    def build(self, input_shape):
        self.soft.build(input_shape)

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
        mean_rate = ops.cast(self.soft(ops.mean(x, axis=0)), x.dtype)
        for t in range(self.n_steps):
            spikes, state = neuron.step(ops.stop_gradient(x[t]), state, DT)
            if self.gradient == "mean":
                rate = mean_rate
            else:
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
            "gradient": self.gradient,
        }


@register_converter(StepLIF)
def _convert_step_lif(layer, ctx):
    """StepLIF -> the scaled LIF neurons with the layer's initial state."""
    return neuron_fields(layer.rate_neuron, op=None, initial_state=layer.initial_state)


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
