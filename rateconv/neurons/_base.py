"""`NeuronType`: the base of every neuron type, its twins and initial state.

A neuron type is an immutable parameter holder applying a nonlinearity to the
input current ``J = gain * x + bias``.  Each comes as a pair of twins: a rate
type (``spiking = False``, `NeuronType.rate`) and a spiking type (``spiking =
True``, `NeuronType.step` with a state).  The pairing is read once from the
class hierarchy, here, instead of being written per class: a spiking type
subclasses its rate type, adding only its state's parameters (``reset``, ...).
"""

from __future__ import annotations

import dataclasses

import keras
from keras import ops

from rateconv._checks import check_choice, check_finite, check_positive

DT = 0.001
"""Default simulation timestep, in seconds."""
TAU_RC = 0.02
"""Default LIF membrane time constant, in seconds."""
TAU_REF = 0.002
"""Default LIF refractory period, in seconds."""

INITIAL_STATES = ("zero", "half", "uniform")
"""Choices for the initial membrane voltage, as a fraction of threshold."""

RESETS = ("zero", "subtract")
"""Choices for a spiking neuron's voltage after a spike."""


def check_reset(reset):
    """``reset`` is one of `RESETS`; returns it."""
    return check_choice("reset", reset, RESETS)


@dataclasses.dataclass(frozen=True)
class NeuronType:
    """Base class: a neuron nonlinearity applied to ``J = gain * x + bias``.

    Subclasses define `rate` (rate types) or `step` and ``state_names``
    (spiking types, with the class attribute ``spiking = True``).  The twins
    are derived from the class hierarchy: a spiking type's rate twin is its
    nearest non-spiking base class, and that base's spiking twin is the first
    spiking type defined on it.  A rate type subclassing another rate type
    (e.g. `SoftLIFRate` of `LIFRate`) shares its base's spiking twin.  A twin
    is built from the parameters both classes have; the others take their
    defaults.

    Parameters
    ----------
    amplitude : float
        Output scale (rate in Hz times ``amplitude``; a spike is
        ``amplitude / dt``).
    gain, bias : float
        Map the layer's pre-activation ``x`` to the input current ``J``.
    """

    amplitude: float = 1.0
    gain: float = 1.0
    bias: float = 0.0

    spiking = False
    state_names = ()
    max_spikes_per_step = None
    """Most spikes a spiking neuron fires in one step (1: binary spikes);
    None where unbounded or unknown.  Integrate-and-fire types take it as a
    parameter; LIF and QCFS neurons fire at most one."""

    # the twins, filled in by __init_subclass__ (None: no twin)
    _rate_twin = None
    _spiking_twin = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.spiking:
            return
        rate_type = next(
            base
            for base in cls.__mro__[1:]
            if issubclass(base, NeuronType) and not base.spiking
        )
        if rate_type is NeuronType:
            return  # a spiking type without a rate form: its own rate twin
        cls._rate_twin = rate_type
        # the first spiking type on a rate type is its twin; spiking
        # subclasses of that one (variants) do not take over
        if "_spiking_twin" not in rate_type.__dict__:
            rate_type._spiking_twin = cls

    def __post_init__(self):
        check_positive("amplitude", self.amplitude)
        check_finite("gain", self.gain)
        check_finite("bias", self.bias)

    def current(self, x):
        """Input current ``gain * x + bias`` for pre-activation ``x``."""
        if self.gain == 1.0 and self.bias == 0.0:
            return x
        return x * self.gain + self.bias

    def rate(self, x):
        """Rate-mode output for pre-activation ``x`` (same shape)."""
        raise NotImplementedError

    def _twin(self, cls):
        names = {f.name for f in dataclasses.fields(self)}
        params = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(cls)
            if f.init and f.name in names
        }
        return cls(**params)

    def as_rate(self):
        """The rate-mode counterpart of this neuron type (itself if a rate type)."""
        if not self.spiking or self._rate_twin is None:
            return self
        return self._twin(self._rate_twin)

    def as_spiking(self):
        """The spiking counterpart of this neuron type (itself if spiking)."""
        if self.spiking:
            return self
        if self._spiking_twin is None:
            raise NotImplementedError(
                f"{type(self).__name__} has no spiking counterpart: define one as "
                f"a subclass with `spiking = True`, a `step` and `state_names`."
            )
        return self._twin(self._spiking_twin)

    def scaled(self, k):
        """Copy with input scaled by ``k`` and output amplitude divided by ``k``.

        This is ``scale_firing_rates``: exact in rate mode for ReLU, a change of
        the rate curve for LIF (``r(gain * k * x + bias) / k``).
        """
        check_positive("scale_firing_rates", k)
        return dataclasses.replace(
            self, gain=self.gain * k, amplitude=self.amplitude / k
        )

    @property
    def is_linear_in_scale(self):
        """Whether `scaled` leaves the rate function unchanged."""
        return False

    def initial_state(self, shape, mode="zero", seed=None, dtype="float32"):
        """The state at the start of a run: one tensor per ``state_names``.

        The first state (the membrane voltage, as a fraction of threshold)
        starts at 0, at 0.5 or uniform in [0, 1); the others at 0.  Half
        threshold removes the rounding bias of the first spikes (Bu et al.
        2022).

        Parameters
        ----------
        shape : tuple of int
            Shape of each state tensor, e.g. ``(batch, *output_shape)``.
        mode : {"zero", "half", "uniform"}
            The initial voltage (see `INITIAL_STATES`).
        seed : tensor, array, keras.random.SeedGenerator or None
            For ``"uniform"`` only: a stateless seed (two int64 numbers; the
            voltage is then ``tf.random.stateless_uniform(shape, seed=seed)``,
            bit for bit), or a `keras.random.SeedGenerator` (a new draw per
            call, e.g. at each training step).
        dtype : str or dtype
            Of the state tensors.

        Returns
        -------
        tuple of tensor
            Empty for a rate type (no state).
        """
        check_choice("initial_state", mode, INITIAL_STATES)
        if not self.state_names:
            return ()
        if mode == "zero":
            voltage = ops.zeros(shape, dtype=dtype)
        elif mode == "half":
            voltage = ops.full(shape, 0.5, dtype=dtype)
        elif isinstance(seed, keras.random.SeedGenerator):
            voltage = keras.random.uniform(shape, dtype=dtype, seed=seed)
        elif seed is None:
            raise ValueError(
                "seed must be a stateless seed (two ints) or a "
                "keras.random.SeedGenerator for initial_state='uniform'. "
                "Received: seed=None"
            )
        else:
            # keras.random takes 32-bit unsigned seeds only; the simulator's
            # seeds are int64 pairs, so call TensorFlow's stateless RNG itself
            import tensorflow as tf

            voltage = tf.random.stateless_uniform(
                shape, seed=tf.cast(seed, tf.int64), dtype=dtype
            )
        others = tuple(ops.zeros(shape, dtype=dtype) for _ in self.state_names[1:])
        return (voltage, *others)


class VoltageSpiking:
    """Mixin of the spiking types whose state is one voltage, with a ``reset``.

    A subclass (listed before its rate type, e.g. ``class
    SpikingRectifiedLinear(VoltageSpiking, RectifiedLinear)``) declares the
    dataclass field ``reset`` and ``_advance(j, voltage, dt) -> (output,
    voltage)``, the step on the input current; the mixin checks ``reset``
    and writes `step` once.
    """

    spiking = True
    state_names = ("voltage",)

    def __post_init__(self):
        super().__post_init__()
        check_reset(self.reset)

    def step(self, x, state, dt=DT):
        """One step: returns ``(output, new_state)``; state is a tuple."""
        (voltage,) = state
        out, voltage = self._advance(self.current(x), voltage, dt)
        return out, (voltage,)

    def _step_options(self, dt):
        """The keywords every one-voltage step function takes."""
        return {"dt": dt, "amplitude": self.amplitude, "reset": self.reset}
