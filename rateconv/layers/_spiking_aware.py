"""Spiking-aware fine-tuning: spikes in the forward pass, rate gradient back.

`SpikingAware` wraps an activation layer.  Its forward pass returns what the
converted spiking neurons transmit on average over ``n_steps`` for a constant
input (their mean output, spikes and all), and its backward pass is the
gradient of the wrapped layer's rate function: ``rate + stop_gradient(spikes -
rate)``, as KerasSpiking's ``SpikingActivation`` trains.  Fine-tuning a trained
network this way lets the following layers adapt to the quantization and
rounding of a short simulation.  Conversion ignores the wrapper: the network is
the same as for the wrapped layer alone.
"""

from __future__ import annotations

import keras
from keras import ops

from rateconv import registry
from rateconv._checks import check_choice, check_int, check_positive
from rateconv.layers._quantized import QuantizedReLU
from rateconv.neurons import DT, INITIAL_STATES, SpikingQuantizedReLU, qcfs_step
from rateconv.registry import ConversionContext

_WRAPPABLE = "SoftLIF, QuantizedReLU, ReLU or Activation('relu')"


def _inner_conversion(layer, ctx):
    """The stage fields the converter makes of the wrapped activation layer."""
    # the registry is the one source of truth for what a layer converts to,
    # so the spikes simulated here are those of the converted network
    fn = registry.converter_for(type(layer))
    if fn is None:
        raise TypeError(
            f"SpikingAware wraps an activation layer ({_WRAPPABLE}). Received: "
            f"layer '{layer.name}' ({type(layer).__name__}), which has no "
            "spiking converter."
        )
    fields = fn(layer, ctx)
    if fields.get("op") is not None or fields.get("spiking_neuron") is None:
        raise TypeError(
            f"SpikingAware wraps an activation layer alone ({_WRAPPABLE}); put "
            "the activation in its own layer, e.g. Dense(64) followed by "
            f"SpikingAware(SoftLIF(...)). Received: layer '{layer.name}' "
            f"({type(layer).__name__})"
        )
    return fields


@keras.saving.register_keras_serializable(package="rateconv")
class SpikingAware(keras.layers.Wrapper):
    """Train an activation layer with spikes forward and its rate gradient back.

    The forward pass simulates the spiking neurons that `rateconv.convert`
    makes of ``layer`` for ``n_steps`` steps of ``dt`` with the layer's input
    held constant, and returns their mean output (the spike count over
    ``n_steps``, times ``amplitude / (n_steps * dt)``: what a spiking layer
    transmits on average in a run of that length).  The gradient is that of
    ``layer`` itself (straight-through: ``rate + stop_gradient(spikes -
    rate)``), including the gradient of a `rateconv.QuantizedReLU` threshold.

    Converting a model with this wrapper gives the same spiking network as
    with ``layer`` alone.

    Parameters
    ----------
    layer : keras.layers.Layer
        A `rateconv.SoftLIF`, `rateconv.QuantizedReLU`, plain
        ``keras.layers.ReLU`` or ``keras.layers.Activation("relu")``.
    n_steps : int
        Simulated timesteps per forward pass (the intended run length).
    dt : float
        Timestep, in seconds.
    initial_state : {None, "zero", "half", "uniform"}
        Initial membrane voltage as a fraction of threshold; None uses the
        converter's default for the layer (zero, half for QuantizedReLU).
        Match `rateconv.convert`'s ``initial_state``.  ``"uniform"`` draws a
        random voltage in [0, 1) for every neuron and sample at each training
        step, so training sees the spike-count noise of a short run from a
        random start (the count rounded up or down around the rate); it acts
        like dropout: outside training (``model.predict``, ``evaluate``) the
        layer returns the wrapped layer's rate.
    seed : int or None
        Seed of the ``"uniform"`` voltages.
    scale_firing_rates : float
        Neuron input times this factor, amplitude divided by it; match
        `rateconv.convert`'s ``scale_firing_rates`` (e.g. for ReLU, whose
        spiking rate in Hz is its activation, so that a few steps hold spikes).
    **kwargs
        Standard `keras.layers.Layer` arguments.

    Examples
    --------
    >>> import keras, rateconv
    >>> layer = rateconv.SpikingAware(rateconv.SoftLIF(name="lif"), n_steps=10)
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), layer,
    ...                           keras.layers.Dense(2)])
    >>> model.compile("adam", "mse")          # then model.fit(...) as usual
    """

    def __init__(
        self,
        layer,
        n_steps=30,
        dt=DT,
        initial_state=None,
        scale_firing_rates=1.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(layer, **kwargs)
        n_steps = check_int("n_steps", n_steps)
        dt = check_positive("dt", dt, unit="in seconds")
        check_choice("initial_state", initial_state, (None, *INITIAL_STATES))
        scale_firing_rates = check_positive("scale_firing_rates", scale_firing_rates)
        if not isinstance(layer, QuantizedReLU):
            # fail early; QuantizedReLU needs its (trained) threshold instead
            _inner_conversion(layer, ConversionContext())
        self.n_steps = n_steps
        self.dt = dt
        self.initial_state = initial_state
        self.scale_firing_rates = scale_firing_rates
        self.seed = seed
        self.seed_generator = (
            keras.random.SeedGenerator(seed) if initial_state == "uniform" else None
        )
        self.supports_masking = True

    def _spiking_step(self):
        """``(step(j, state) -> (out, state), neuron, initial state mode)``.

        ``neuron`` is the spiking neuron type, whose `initial_state` gives the
        state the simulator would start from.
        """
        k = self.scale_firing_rates
        inner = self.layer
        if isinstance(inner, QuantizedReLU):
            # the threshold is a trained variable: use its current value (the
            # neuron type, with a float threshold, only gives the state)
            def step(j, state):
                threshold = ops.cast(inner.threshold, j.dtype)
                out, voltage = qcfs_step(
                    j * k if k != 1.0 else j,
                    state[0],
                    threshold=threshold,
                    dt=self.dt,
                    amplitude=threshold * (DT / k),
                )
                return out, (voltage,)

            neuron = SpikingQuantizedReLU(levels=inner.levels)
            default = "half"
        else:
            fields = _inner_conversion(inner, ConversionContext())
            neuron = fields["spiking_neuron"]
            if k != 1.0:
                neuron = neuron.scaled(k)

            def step(j, state):
                return neuron.step(j, state, self.dt)

            default = fields.get("initial_state", "zero")
        return step, neuron, self.initial_state or default

    def call(self, inputs, training=None):
        rate = self.layer(inputs)
        if self.initial_state == "uniform" and not training:
            # the random start is a training-time noise, as dropout
            return rate
        step, neuron, mode = self._spiking_step()
        x = ops.stop_gradient(ops.convert_to_tensor(inputs))
        state = neuron.initial_state(
            ops.shape(x), mode, seed=self.seed_generator, dtype=x.dtype
        )

        def body(_, carry):
            total, state = carry
            out, state = step(x, state)
            return total + out, state

        total, _ = ops.fori_loop(0, self.n_steps, body, (ops.zeros_like(x), state))
        spikes = ops.cast(total / self.n_steps, rate.dtype)
        # forward: the mean spiking output; backward: the rate gradient
        return rate + ops.stop_gradient(spikes - rate)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "n_steps": self.n_steps,
            "dt": self.dt,
            "initial_state": self.initial_state,
            "scale_firing_rates": self.scale_firing_rates,
            "seed": self.seed,
        }


@registry.register_converter(SpikingAware)
def _convert_spiking_aware(layer, ctx):
    """The wrapped layer's conversion: training aid only, no trace in the SNN."""
    inner = layer.layer
    swapped = ctx.swapped(layer)
    if swapped is not None:
        # swap_activations may name the wrapper; the inner converter sees the
        # inner layer's name
        ctx = ctx.with_swap(inner.name, swapped)
    return _inner_conversion(inner, ctx)


def _is_wrappable(layer):
    if isinstance(layer, SpikingAware):
        return False
    if isinstance(layer, QuantizedReLU):
        return True
    fn = registry.converter_for(type(layer))
    # layers with weights (convolutions, dense, ...) are not activations
    if fn is None or layer.weights:
        return False
    try:
        fields = fn(layer, ConversionContext())
    except (TypeError, ValueError, AttributeError):
        return False
    return fields.get("op") is None and fields.get("spiking_neuron") is not None


def _clone_with_weights(model, clone_function):
    """Clone ``model`` through ``clone_function`` and copy every layer's weights."""
    if not isinstance(model, keras.Model):
        raise TypeError(
            "model must be a Keras Sequential or functional model. Received: "
            f"{type(model).__name__}"
        )
    # the copy comes uncompiled (callers say so): Keras would recompile it from
    # the original's compile config, which fails on an unregistered custom
    # loss or metric
    compiled = getattr(model, "compiled", False)
    try:
        model.compiled = False
        clone = keras.models.clone_model(model, clone_function=clone_function)
    except ValueError as e:
        raise TypeError(
            f"Model '{model.name}' ({type(model).__name__}) cannot be rebuilt "
            "layer by layer: only Sequential and functional models can be "
            f"(a subclassed model cannot). Keras said: {e}"
        ) from e
    finally:
        model.compiled = compiled
    for layer in model.layers:
        if layer.weights:
            clone.get_layer(layer.name).set_weights(layer.get_weights())
    return clone


def spiking_aware_model(model, n_steps, **options):
    """Copy of ``model`` with every activation layer wrapped in `SpikingAware`.

    The stand-alone activation layers (`rateconv.SoftLIF`,
    `rateconv.QuantizedReLU`, ``ReLU``, ``Activation("relu")``) are wrapped;
    the wrappers keep the layers' names, so conversion options keyed by layer
    name still apply.  The weights are copied, so fine-tuning the copy leaves
    ``model`` as it was.  The copy is not compiled (whatever ``model`` was
    compiled with): compile it and train it with ``fit``; convert
    it directly or strip the wrappers with `remove_spiking_aware`.

    Parameters
    ----------
    model : keras.Model
        A Sequential or functional model.
    n_steps : int
        Simulated timesteps of the wrappers' forward pass.
    **options
        Other `SpikingAware` arguments (``dt``, ``initial_state``,
        ``scale_firing_rates``, ``seed``).

    Returns
    -------
    keras.Model

    Examples
    --------
    >>> import keras, rateconv
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8),
    ...                           rateconv.SoftLIF(name="lif"), keras.layers.Dense(2)])
    >>> aware = rateconv.spiking_aware_model(model, n_steps=10, initial_state="uniform")
    >>> [type(layer).__name__ for layer in aware.layers]
    ['Dense', 'SpikingAware', 'Dense']
    >>> aware.compile("adam", "mse")           # fine-tune with aware.fit(...)
    """
    wrapped = []

    def clone(layer):
        new = layer.__class__.from_config(layer.get_config())
        if not _is_wrappable(layer):
            return new
        wrapped.append(layer.name)
        return SpikingAware(new, n_steps=n_steps, name=layer.name, **options)

    copy = _clone_with_weights(model, clone)
    if not wrapped:
        raise ValueError(
            f"Model '{model.name}' has no stand-alone activation layer to wrap "
            f"({_WRAPPABLE}); put activations in their own layers instead of "
            "`activation=` arguments."
        )
    return copy


def remove_spiking_aware(model):
    """Copy of ``model`` with each `SpikingAware` replaced by its wrapped layer.

    The weights are copied; the result converts to the same spiking network.

    Examples
    --------
    >>> import keras, rateconv
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8),
    ...                           rateconv.SoftLIF(name="lif"), keras.layers.Dense(2)])
    >>> aware = rateconv.spiking_aware_model(model, n_steps=10)
    >>> plain = rateconv.remove_spiking_aware(aware)
    >>> [type(layer).__name__ for layer in plain.layers]
    ['Dense', 'SoftLIF', 'Dense']
    """

    def clone(layer):
        if isinstance(layer, SpikingAware):
            config = layer.layer.get_config()
            config["name"] = layer.name
            return layer.layer.__class__.from_config(config)
        return layer.__class__.from_config(layer.get_config())

    return _clone_with_weights(model, clone)
