"""Metrics over simulator outputs: errors per step, firing rates, spike counts."""

from __future__ import annotations

import dataclasses

import numpy as np


def _as_labels(y, n, name="y"):
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        y = np.argmax(y, axis=1)  # one-hot
    y = y.reshape(len(y), -1) if y.ndim > 1 else y
    if y.ndim != 1 and y.shape[1] != 1:
        raise ValueError(
            f"{name} must hold one class index per sample, shape (n,) or (n, 1), "
            f"or one-hot labels (n, n_classes). Received: shape {np.shape(y)}"
        )
    y = y.reshape(-1)
    if len(y) != n:
        raise ValueError(
            f"{name} must have one label per input sample: expected {n}, "
            f"received {len(y)}"
        )
    if y.dtype.kind == "f":  # float labels must be whole numbers (not 2.7)
        whole = np.isfinite(y) & (y == np.round(y))
        if not whole.all():
            bad = np.unique(y[~whole])[:5]
            raise ValueError(
                f"{name} must hold whole-number class indices. Received: "
                f"{name} of dtype {y.dtype} with values {bad.tolist()}"
            )
    return y.astype(np.int64)


def check_labels(labels, n_classes, *, population_size=1, name="y"):
    """``labels`` (from `_as_labels`) all lie in ``[0, n_classes)``; returns them.

    A label outside can never match a prediction, so it would silently count
    as an error: it is an error naming the bad values and the range.
    """
    bad = (labels < 0) | (labels >= n_classes)
    if bad.any():
        values = np.unique(labels[bad])
        shown = values[:10].tolist() + (["..."] if len(values) > 10 else [])
        origin = f"the network's {n_classes} outputs"
        if population_size > 1:
            origin = (
                f"{n_classes * population_size} outputs / population_size "
                f"{population_size}"
            )
        raise ValueError(
            f"{name} must hold class indices in [0, {n_classes}) ({origin}). "
            f"Received: {int(bad.sum())} label(s) outside it, values {shown}"
        )
    return labels


def class_scores(outputs, population_size=1):
    """Per-class activity, grouping population-coded outputs.

    Parameters
    ----------
    outputs : array, shape (..., n_outputs)
        Output probe values; with ``population_size = K`` the outputs are ``C``
        contiguous groups of ``K`` neurons, one group per class.
    population_size : int
        Output neurons per class.

    Returns
    -------
    numpy.ndarray, shape (..., n_outputs // population_size)
        The summed activity of each class's group.
    """
    outputs = np.asarray(outputs)
    n_out = outputs.shape[-1]
    if population_size < 1 or n_out % population_size:
        raise ValueError(
            f"population_size must divide the number of outputs ({n_out}). "
            f"Received: population_size={population_size}"
        )
    if population_size == 1:
        return outputs
    grouped = outputs.reshape(outputs.shape[:-1] + (-1, population_size))
    return grouped.sum(axis=-1)


def classification_errors(outputs, y, *, population_size=1):
    """Classification error at every step.

    Parameters
    ----------
    outputs : array, shape (batch, n_steps, n_outputs) or (batch, n_outputs)
        Output probe values (rate mode: no time axis).
    y : array, shape (batch,)
        True class indices (or one-hot labels).
    population_size : int
        Output neurons per class (see `class_scores`).

    Returns
    -------
    numpy.ndarray, shape (n_steps,) or scalar
        Fraction of misclassified samples at each step.
    """
    outputs = np.asarray(outputs)
    y = _as_labels(y, len(outputs))
    scores = class_scores(outputs, population_size)
    check_labels(y, scores.shape[-1], population_size=population_size)
    predicted = np.argmax(scores, axis=-1)
    if predicted.ndim == 2:
        return np.mean(predicted != y[:, None], axis=0)
    return np.float64(np.mean(predicted != y))


def settling_steps(outputs, y, *, population_size=1):
    """Per sample, the step from which the prediction stays correct.

    The latency figure of the spiking-network literature: sample ``i``
    settles at step ``t`` (1-based) when its prediction is correct at step
    ``t`` and at every later step of the run.

    Parameters
    ----------
    outputs : array, shape (batch, n_steps, n_outputs)
        Output probe values (after any readout such as a running mean).
    y : array, shape (batch,)
        True class indices (or one-hot labels).
    population_size : int
        Output neurons per class (see `class_scores`).

    Returns
    -------
    numpy.ndarray of int, shape (batch,)
        The settling step of each sample, ``1..n_steps``; ``0`` for a sample
        that is wrong at the last step (it never settled in this run).

    Example
    -------
    >>> out = np.array([[[0, 1], [1, 0], [0, 1]], [[1, 0], [1, 0], [1, 0]]])
    >>> settling_steps(out, [1, 1]).tolist()
    [3, 0]
    """
    outputs = np.asarray(outputs)
    if outputs.ndim != 3:
        raise ValueError(
            "settling_steps needs spiking outputs with a time axis, shape "
            f"(batch, n_steps, n_outputs). Received: shape {outputs.shape}"
        )
    y = _as_labels(y, len(outputs))
    scores = class_scores(outputs, population_size)
    check_labels(y, scores.shape[-1], population_size=population_size)
    correct = np.argmax(scores, axis=-1) == y[:, None]
    # correct from step t to the end: a cumulative "and" from the last step
    stays = np.flip(np.cumprod(np.flip(correct, 1), axis=1), 1).astype(bool)
    n_steps = correct.shape[1]
    return np.where(stays[:, -1], n_steps - stays.sum(axis=1) + 1, 0).astype(int)


@dataclasses.dataclass(frozen=True)
class Latency:
    """The distribution of settling steps over an evaluation (`settling_steps`).

    Attributes
    ----------
    steps : numpy.ndarray of int, shape (n_samples,)
        Each sample's settling step, ``1..n_steps``, or ``0`` for a sample
        still wrong at the last step.
    n_steps : int
        Steps of the run.

    Example
    -------
    >>> lat = Latency(np.array([1, 3, 0, 2]), n_steps=4)
    >>> lat.settled_by_step.tolist()
    [0.25, 0.5, 0.75, 0.75]
    >>> lat.median
    2.0
    """

    steps: np.ndarray
    n_steps: int

    @property
    def settled(self):
        """Settling steps of the samples that settled (correct at the end)."""
        return self.steps[self.steps > 0]

    @property
    def settled_by_step(self):
        """Fraction of all samples settled by each step ``1..n_steps``.

        At the last step this is the accuracy; at step ``t`` it is at most
        the accuracy at ``t`` (a sample may be right at ``t`` and wrong later).
        """
        counts = np.bincount(self.steps, minlength=self.n_steps + 1)[1:]
        return np.cumsum(counts) / max(len(self.steps), 1)

    def _stat(self, fn):
        s = self.settled
        return float(fn(s)) if s.size else float("nan")

    @property
    def mean(self):
        """Mean settling step of the settled samples (NaN if none)."""
        return self._stat(np.mean)

    @property
    def median(self):
        """Median settling step of the settled samples (NaN if none)."""
        return self._stat(np.median)

    def percentile(self, q):
        """The ``q``-th percentile settling step of the settled samples."""
        return self._stat(lambda s: np.percentile(s, q))

    def to_dict(self):
        """A JSON-serializable summary."""

        def num(v):
            return None if np.isnan(v) else v

        return {
            "settled_fraction": float(len(self.settled) / max(len(self.steps), 1)),
            "mean_steps": num(self.mean),
            "median_steps": num(self.median),
            "p90_steps": num(self.percentile(90)),
            "settled_by_step": [float(v) for v in self.settled_by_step],
        }


@dataclasses.dataclass
class LayerActivity:
    """Spiking activity of one layer over an evaluation.

    Attributes
    ----------
    n_neurons : int
        Neurons per sample.
    spike_count : float
        Spikes emitted by the layer, summed over all samples and steps.
    rates : numpy.ndarray, shape (n_neurons,)
        Mean firing rate of each neuron, in Hz, over samples and steps.
    max_spikes_per_step : float or None
        The most spikes one neuron of the layer fired in one step (1 or 0:
        binary spikes; more: graded spikes); None when not measured.
    """

    n_neurons: int
    spike_count: float
    rates: np.ndarray
    max_spikes_per_step: float | None = None

    @property
    def mean_rate(self):
        """Mean firing rate over the layer's neurons, in Hz."""
        return float(np.mean(self.rates))

    @property
    def silent_fraction(self):
        """Fraction of neurons that never spiked."""
        return float(np.mean(self.rates == 0))

    def spikes_per_step(self, n_samples, n_steps):
        """Mean spikes per sample per step in the whole layer."""
        return self.spike_count / (n_samples * n_steps)


@dataclasses.dataclass
class Evaluation:
    """Result of `Simulator.evaluate`.

    Attributes
    ----------
    error : float
        Classification error at the last step (rate mode: the only error).
    errors : numpy.ndarray, shape (n_steps,)
        Error after each step 1..n_steps, from the same run (rate mode: one
        value).
    n_samples, n_steps : int
    mode : str
    activity : dict of str -> LayerActivity
        Spiking layers' spike counts and firing rates (empty in rate mode).
    outputs : numpy.ndarray or None
        The output probe, shape (n_samples, n_steps, n_outputs), if requested.
    latency : Latency or None
        Per sample, the step from which its prediction stays correct, and
        their distribution (spiking mode; None in rate mode).

    Examples
    --------
    >>> import numpy as np, keras, rateconv
    >>> model = keras.Sequential([
    ...     keras.Input((4,)),
    ...     keras.layers.Dense(16, activation="relu", name="hidden"),
    ...     keras.layers.Dense(3, name="out")])
    >>> x = np.random.default_rng(0).uniform(size=(64, 4)).astype("float32")
    >>> y = model.predict(x, verbose=0).argmax(-1)
    >>> sim = rateconv.Simulator(rateconv.convert(model), progress=False)
    >>> rate = sim.evaluate(x, y, mode="rate")   # Keras' own classes: no error
    >>> rate.error, rate.accuracy
    (0.0, 1.0)
    >>> spiking = sim.evaluate(x, y, n_steps=10, warn=False)  # doctest: +SKIP
    >>> spiking.errors.shape, sorted(spiking.firing_rates)    # doctest: +SKIP
    ((10,), ['dense'])
    """

    error: float
    errors: np.ndarray
    n_samples: int
    n_steps: int
    mode: str
    activity: dict = dataclasses.field(default_factory=dict)
    outputs: np.ndarray | None = None
    latency: Latency | None = None

    @property
    def accuracy(self):
        """``1 - error`` at the last step."""
        return 1.0 - self.error

    @property
    def firing_rates(self):
        """Mean firing rate (Hz) of each spiking layer, by layer name."""
        return {name: a.mean_rate for name, a in self.activity.items()}

    @property
    def spike_counts(self):
        """Total spikes of each spiking layer, by layer name."""
        return {name: a.spike_count for name, a in self.activity.items()}

    @property
    def max_spikes_per_step(self):
        """The most spikes any neuron fired in one step of this evaluation.

        At most 1 means the run used binary spikes only (what chips taking
        one-bit spikes run); above 1 it needed graded spikes (see each
        layer's `LayerActivity.max_spikes_per_step`).  None in rate mode.
        """
        peaks = [a.max_spikes_per_step for a in self.activity.values()]
        peaks = [p for p in peaks if p is not None]
        return max(peaks) if peaks else None

    def to_dict(self):
        """A JSON-serializable summary."""
        return {
            "mode": self.mode,
            "n_samples": self.n_samples,
            "n_steps": self.n_steps,
            "error": float(self.error),
            "accuracy": float(self.accuracy),
            "errors_per_step": [float(e) for e in np.atleast_1d(self.errors)],
            "max_spikes_per_step": self.max_spikes_per_step,
            "layers": {
                name: {
                    "n_neurons": a.n_neurons,
                    "mean_rate_hz": a.mean_rate,
                    "silent_fraction": a.silent_fraction,
                    "spikes_per_sample_step": a.spikes_per_step(
                        self.n_samples, self.n_steps
                    ),
                    "max_spikes_per_step": a.max_spikes_per_step,
                }
                for name, a in self.activity.items()
            },
            "latency": None if self.latency is None else self.latency.to_dict(),
        }


def running_mean(outputs):
    """The mean over steps ``1..t`` at each step ``t`` (time on axis 1)."""
    outputs = np.cumsum(np.asarray(outputs), axis=1)
    shape = (1, -1) + (1,) * (outputs.ndim - 2)
    return outputs / np.arange(1, outputs.shape[1] + 1).reshape(shape)


def unfilter(synapse, y, dt, axis=1):
    """The input of `synapse` whose filtered output is `y` (zero start).

    Each first-order stage computes ``y[t] = a y[t-1] + (1 - a) x[t]``, so
    ``x[t] = (y[t] - a y[t-1]) / (1 - a)``, stage by stage.

    Parameters
    ----------
    synapse : rateconv.Lowpass or rateconv.Alpha
        The filter that produced `y`.
    y : array_like
        Filtered signal, time on `axis`.
    dt : float
        Simulation timestep in seconds.
    axis : int
        The time axis of `y`.

    Returns
    -------
    numpy.ndarray
        The unfiltered signal (float64), the shape of `y`.

    Examples
    --------
    >>> import numpy as np, rateconv
    >>> x = np.array([[0.0, 1.0, 1.0, 0.0]])
    >>> a = rateconv.Lowpass(0.005).decay(0.001)
    >>> y = np.zeros_like(x)
    >>> for t in range(4):
    ...     y[:, t] = a * (y[:, t - 1] if t else 0) + (1 - a) * x[:, t]
    >>> from rateconv.metrics import unfilter
    >>> np.round(unfilter(rateconv.Lowpass(0.005), y, 0.001), 6)
    array([[0., 1., 1., 0.]])
    """
    x = np.moveaxis(np.asarray(y, dtype=np.float64), axis, 0)
    a = synapse.decay(dt)
    for _ in range(synapse.n_stages):
        previous = np.concatenate([np.zeros_like(x[:1]), x[:-1]])
        x = (x - a * previous) / (1 - a)
    return np.moveaxis(x, 0, axis)


def spike_counts(network, layers, dt):
    """``{layer: spike counts per step}`` from a simulator's probed layers.

    `Simulator.predict(..., probe_layers=[...])` returns a layer's output
    after its connection synapse (if it has one), in amplitude units; this
    undoes the synapse and divides by the spike size (``amplitude / dt``), so
    the counts are the spikes themselves, rounded (several per step for
    integrate-and-fire neurons with reset by subtraction, signed for leaky
    integrate-and-fire).  What `rateconv.plots.plot_spike_raster` draws.

    Parameters
    ----------
    network : rateconv.SpikingNetwork
        The network that was simulated.
    layers : dict of str -> numpy.ndarray
        The probes: ``(n_samples, n_steps, *layer_shape)`` per spiking layer.
    dt : float
        The simulator's timestep in seconds (``sim.dt``).

    Returns
    -------
    dict of str -> numpy.ndarray
        Spike counts, the shape of each probe.

    Examples
    --------
    >>> import numpy as np, keras, rateconv
    >>> model = keras.Sequential([keras.Input((4,)),
    ...                           keras.layers.Dense(8, name="fc"),
    ...                           rateconv.SoftLIF(name="lif")])
    >>> net = rateconv.convert(model, synapse=0.005)
    >>> sim = rateconv.Simulator(net, progress=False, warn_activity=False)
    >>> _, layers = sim.predict(np.ones((2, 4), "float32"), n_steps=20,
    ...                         probe_layers=["lif"])
    >>> counts = rateconv.metrics.spike_counts(net, layers, sim.dt)
    >>> counts["lif"].shape
    (2, 20, 8)
    >>> bool(np.all(np.isin(counts["lif"], [0, 1])))   # LIF: at most 1 a step
    True
    """
    counts = {}
    for name, output in layers.items():
        stage = network.by_name[name]
        if stage.synapse is not None:
            output = unfilter(stage.synapse, output, dt)
        amplitude = stage.spiking_neuron.amplitude
        counts[name] = np.round(np.asarray(output) * dt / amplitude)
    return counts


class ErrorCounter:
    """Classification errors at every step, counted minibatch by minibatch.

    Memory does not grow with the number of samples times ``n_steps``: each
    minibatch's outputs are scored and dropped.

    Parameters
    ----------
    labels : numpy.ndarray, shape (n_samples,), or None
        True class indices; None when each minibatch brings its own (a
        stream of batches).
    population_size : int
        Output neurons per class (see `class_scores`).
    readout : {"last", "mean"}
        Classify at step ``t`` from the output at ``t``, or from its mean over
        steps ``1..t``.
    spiking : bool
        Whether the outputs have a time axis (axis 1); ``readout`` applies to
        spiking outputs only.
    """

    def __init__(self, labels=None, *, population_size=1, readout="last", spiking=True):
        self.labels = labels
        self.population_size = population_size
        self.readout = readout
        self.spiking = spiking
        self._wrong = []
        self._settling = []
        self.n_samples = 0

    def add(self, outputs, start, n_valid, labels=None):
        """Score ``outputs`` (one minibatch) of samples ``start..start+n_valid``.

        ``labels`` are the minibatch's own (default: ``self.labels`` there).
        """
        outputs = np.asarray(outputs)
        if self.readout == "mean" and self.spiking:
            outputs = running_mean(outputs)
        if labels is None:
            labels = self.labels[start : start + n_valid]
        errs = classification_errors(
            outputs, labels, population_size=self.population_size
        )
        self._wrong.append(np.atleast_1d(errs) * n_valid)
        if self.spiking:
            self._settling.append(
                settling_steps(outputs, labels, population_size=self.population_size)
            )
        self.n_samples += n_valid

    @property
    def latency(self):
        """The `Latency` of the samples so far (None in rate mode)."""
        if not self.spiking or not self._settling:
            return None
        return Latency(np.concatenate(self._settling), len(self.errors))

    @property
    def errors(self):
        """Error fraction at each step (one value in rate mode)."""
        return np.sum(self._wrong, axis=0) / self.n_samples
