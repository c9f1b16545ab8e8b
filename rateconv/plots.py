"""Plots for inspecting converted spiking networks.

Every function takes numpy arrays, draws with :class:`matplotlib.figure.Figure`
objects directly (never through pyplot's global state, so it works headless and
leaves the user's backend alone) and returns the Figure. Nothing here calls
``plt.show()``; save with ``fig.savefig(path)`` or display it in a notebook.

Functions
---------
plot_error_vs_steps
    Classification error against the number of simulation steps.
plot_output_probes
    Input images beside the filtered output probe over time.
plot_spike_raster
    Spike raster of a layer's most active neurons, in spike counts.
plot_rate_histogram
    Histogram of per-neuron firing rates, one panel per layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

# numbers and finiteness are checked by the package's one validation module
# (numpy only); the shape and content checks of plot inputs stay here
from rateconv._checks import (
    check_choice,
    check_finite_array,
    check_int,
    check_positive,
    check_range,
)

__all__ = [
    "plot_error_vs_steps",
    "plot_output_probes",
    "plot_rate_histogram",
    "plot_spike_raster",
]


# ---------------------------------------------------------------------------
# Validation helpers
# ---------------------------------------------------------------------------


def _as_float_array(value, name: str) -> np.ndarray:
    """Convert ``value`` to a float array, naming ``name`` if that fails."""
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} must be a numeric array; received {type(value).__name__} "
            f"that could not be converted ({exc})"
        ) from None


def _array_of_ndim(value, name: str, ndim: int, expected: str) -> np.ndarray:
    """``value`` as a non-empty float array of ``ndim`` dimensions.

    ``expected`` completes "``name`` must ..." in the error, e.g.
    ``"be 1-D (one error per step)"``.
    """
    array = _as_float_array(value, name)
    if array.ndim != ndim:
        raise ValueError(f"{name} must {expected}; received shape {tuple(array.shape)}")
    _check_not_empty(array, name)
    return array


def _check_not_empty(array: np.ndarray, name: str) -> None:
    """Raise if ``array`` has no elements."""
    if array.size == 0:
        raise ValueError(
            f"{name} must not be empty; received shape {tuple(array.shape)}"
        )


def _check_ax(ax) -> None:
    """Raise unless ``ax`` is None or a matplotlib Axes."""
    if ax is not None and not isinstance(ax, Axes):
        raise ValueError(
            f"ax must be a matplotlib Axes or None; received {type(ax).__name__}"
        )


def _figure_and_axes(ax: Axes | None, figsize: tuple[float, float]):
    """Return ``(figure, axes)``: ``ax`` and its figure, or a fresh pair."""
    if ax is None:
        fig = Figure(figsize=figsize, layout="constrained")
        return fig, fig.add_subplot()
    # root=True so that axes inside a SubFigure still return the saveable Figure.
    return ax.get_figure(root=True), ax


# ---------------------------------------------------------------------------
# Error against simulation length
# ---------------------------------------------------------------------------


def _check_errors(errors, name: str) -> np.ndarray:
    """Validate one error curve: 1-D, non-empty, finite fractions in [0, 1]."""
    array = _array_of_ndim(errors, name, 1, "be 1-D (one error per step)")
    check_finite_array(name, array, dtype=None)
    if array.min() < 0 or array.max() > 1:
        raise ValueError(
            f"{name} must be fractions in [0, 1] (not percent); received values "
            f"from {array.min():g} to {array.max():g}"
        )
    return array


def plot_error_vs_steps(
    errors,
    *,
    rate_error=None,
    dt=None,
    ax=None,
    label="spiking",
    title=None,
) -> Figure:
    """Plot classification error against the number of simulation steps.

    Parameters
    ----------
    errors : array_like of shape (n_steps,) or dict of str to array_like
        Classification error, as a fraction in [0, 1], when the output is read
        after step 1, 2, ..., n_steps. A dict ``{label: errors}`` draws one
        curve per entry (e.g. one per synapse time constant); the curves may
        have different lengths.
    rate_error : float, optional
        Error of the original rate (non-spiking) network, a fraction in
        [0, 1]; drawn as a horizontal dashed line labelled "rate mode".
    dt : float, optional
        Simulation timestep in seconds. If given, the x axis shows simulated
        time in milliseconds (``step * dt * 1000``) instead of step numbers.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into. By default a new figure is created.
    label : str, default "spiking"
        Legend label of the curve when ``errors`` is an array (ignored for a
        dict, whose keys are the labels).
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the plot (the figure of ``ax`` if given).

    Raises
    ------
    ValueError
        If an error curve is not 1-D, is empty, holds NaN or infinity or lies
        outside [0, 1]; if ``errors`` is an empty dict; if ``rate_error`` is
        not a number in [0, 1]; if ``dt`` is not positive; or if ``ax`` is
        not an Axes.
    """
    if isinstance(errors, Mapping):
        if not errors:
            raise ValueError(
                "errors must hold at least one curve; received an empty dict"
            )
        curves = {
            str(key): _check_errors(value, f"errors[{key!r}]")
            for key, value in errors.items()
        }
    else:
        curves = {str(label): _check_errors(errors, "errors")}

    if rate_error is not None:
        check_range("rate_error", rate_error, 0, 1, hint="A fraction, not percent")
    if dt is not None:
        dt = check_positive("dt", dt, unit="in seconds")
    _check_ax(ax)

    fig, ax = _figure_and_axes(ax, figsize=(6.0, 4.0))
    for curve_label, curve in curves.items():
        steps = np.arange(1, curve.size + 1)
        x = steps if dt is None else steps * dt * 1000.0
        # A marker per point helps when there are only a handful of steps.
        marker = "o" if curve.size <= 40 else None
        ax.plot(x, curve * 100.0, marker=marker, markersize=3, label=curve_label)
    if rate_error is not None:
        ax.axhline(rate_error * 100.0, color="black", linestyle="--", label="rate mode")

    ax.set_xlabel("timesteps" if dt is None else "simulated time (ms)")
    ax.set_ylabel("classification error (%)")
    # Errors are percentages, so anchor at 0 to keep curves comparable by eye.
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    if title is not None:
        ax.set_title(title)
    return fig


# ---------------------------------------------------------------------------
# Output probes over time
# ---------------------------------------------------------------------------


def _check_images(images) -> np.ndarray:
    """Validate images; return them as (batch, H, W) or (batch, H, W, 3)."""
    array = _as_float_array(images, "images")
    shape_ok = array.ndim == 3 or (array.ndim == 4 and array.shape[-1] in (1, 3))
    if not shape_ok:
        raise ValueError(
            "images must have shape (batch, H, W), (batch, H, W, 1) or "
            f"(batch, H, W, 3); received shape {tuple(array.shape)}"
        )
    _check_not_empty(array, "images")
    check_finite_array("images", array, dtype=None)
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    return array


def _check_probes(probes, images: np.ndarray) -> np.ndarray:
    """Validate probes: (batch, n_steps, n_classes), finite, one per image."""
    probes = _array_of_ndim(
        probes, "probes", 3, "have shape (batch, n_steps, n_classes)"
    )
    check_finite_array("probes", probes, dtype=None)
    batch = probes.shape[0]
    if images.shape[0] != batch:
        raise ValueError(
            "images and probes must have the same batch size; received "
            f"{images.shape[0]} images and probes for {batch} "
            f"(shapes {tuple(images.shape)} and {tuple(probes.shape)})"
        )
    return probes


def _check_labels(labels, batch: int, n_classes: int) -> np.ndarray:
    """Validate labels: one class index per image; return them as ints, (batch,)."""
    labels_array = np.asarray(labels)
    if labels_array.size != batch:
        raise ValueError(
            f"labels must hold one class index per image ({batch}); "
            f"received shape {tuple(labels_array.shape)}"
        )
    labels_array = labels_array.reshape(batch)
    is_integral = np.issubdtype(labels_array.dtype, np.integer) or (
        np.issubdtype(labels_array.dtype, np.floating)
        and np.all(np.mod(labels_array, 1) == 0)
    )
    if not is_integral or labels_array.min() < 0 or labels_array.max() >= n_classes:
        raise ValueError(
            f"labels must be integer class indices in [0, {n_classes - 1}]; "
            f"received values {labels_array[:5].tolist()}"
            + ("..." if batch > 5 else "")
        )
    return labels_array.astype(int)


def _class_names(class_names, n_classes: int) -> list[str]:
    """The name of each class: ``class_names`` checked, or the indices."""
    if class_names is None:
        return [str(i) for i in range(n_classes)]
    if isinstance(class_names, str) or not isinstance(class_names, Sequence):
        raise ValueError(
            "class_names must be a sequence of strings; received "
            f"{type(class_names).__name__}"
        )
    if len(class_names) != n_classes:
        raise ValueError(
            f"class_names must have one name per class ({n_classes}, the "
            f"last axis of probes); received {len(class_names)}"
        )
    return [str(name) for name in class_names]


def _draw_image(ax: Axes, image: np.ndarray) -> None:
    """Show one image without ticks: grayscale, or RGB rescaled to [0, 1]."""
    if image.ndim == 2:
        ax.imshow(image, cmap="gray", interpolation="nearest")
    else:
        # RGB needs [0, 1]; rescale per image rather than silently clipping.
        low, high = image.min(), image.max()
        scaled = (image - low) / (high - low) if high > low else image * 0
        ax.imshow(scaled, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_output_probes(
    images,
    probes,
    *,
    labels=None,
    class_names=None,
    dt=0.001,
    n_images=None,
) -> Figure:
    """Plot input images beside the network's output probe over time.

    One row per image, as in NengoDL's spiking-MNIST example: on the left the
    image, on the right one line per class showing how the (usually synapse
    filtered) output evolves during the simulation. A well-converted network
    shows the true class rising above the others after a few steps.

    Parameters
    ----------
    images : array_like of shape (batch, H, W), (batch, H, W, 1) or (batch, H, W, 3)
        Input images. Single-channel images are shown in grayscale.
    probes : array_like of shape (batch, n_steps, n_classes)
        Output probe for each image at each simulation step.
    labels : array_like of int, optional
        True class index of each image, with ``batch`` elements (shape
        (batch,) or e.g. (batch, 1)). Shown as the title of each image.
    class_names : sequence of str, optional
        Name of each class, ``n_classes`` long. Used in the legend and image
        titles; defaults to the class indices.
    dt : float, default 0.001
        Simulation timestep in seconds; step ``k`` (0-based) is plotted at
        ``(k + 1) * dt`` seconds.
    n_images : int, optional
        Number of images (rows) to show, the first ones. Defaults to all.

    Returns
    -------
    matplotlib.figure.Figure
        Figure with ``2 * n_images`` axes: image, probe, image, probe, ...

    Raises
    ------
    ValueError
        If ``images`` or ``probes`` has the wrong number of dimensions, is
        empty or holds NaN; if their batch sizes differ; if ``labels`` does
        not hold one valid class index per image; if ``class_names`` does not
        have ``n_classes`` entries; if ``dt`` is not positive; or if
        ``n_images`` is not an integer in [1, batch].
    """
    images = _check_images(images)
    probes = _check_probes(probes, images)
    batch, n_steps, n_classes = probes.shape
    if labels is not None:
        labels_array = _check_labels(labels, batch, n_classes)
    names = _class_names(class_names, n_classes)
    dt = check_positive("dt", dt, unit="in seconds")
    if n_images is None:
        n_images = batch
    else:
        n_images = check_int("n_images", n_images)
        if n_images > batch:
            raise ValueError(
                f"n_images must be at most the batch size ({batch}); "
                f"received {n_images}"
            )

    times = (np.arange(n_steps) + 1) * dt
    fig = Figure(figsize=(8.0, 2.2 * n_images + 0.3), layout="constrained")
    # The image column is narrow: the probe traces need the width, not the image.
    grid = fig.add_gridspec(n_images, 2, width_ratios=(1, 3.5))
    probe_axes = []
    for row in range(n_images):
        image_ax = fig.add_subplot(grid[row, 0])
        _draw_image(image_ax, images[row])
        if labels is not None:
            image_ax.set_title(f"label: {names[labels_array[row]]}")

        # Share x so every row reads on the same time scale.
        share = probe_axes[0] if probe_axes else None
        probe_ax = fig.add_subplot(grid[row, 1], sharex=share)
        for cls in range(n_classes):
            # Thicken the true class's trace so the eye finds it immediately.
            is_true = labels is not None and cls == labels_array[row]
            probe_ax.plot(
                times,
                probes[row, :, cls],
                label=names[cls],
                linewidth=2.5 if is_true else 1.2,
                zorder=3 if is_true else 2,
            )
        probe_ax.set_ylabel("output")
        probe_ax.grid(True, alpha=0.3)
        probe_axes.append(probe_ax)
        if row < n_images - 1:
            probe_ax.tick_params(labelbottom=False)

    probe_axes[-1].set_xlabel("time (s)")
    probe_axes[0].set_xlim(0.0, times[-1])
    # One figure-level legend for all rows, outside the axes so it never hides
    # a trace; attaching it to the first axes would stretch that row's gap.
    fig.legend(
        # Uniform-width proxies: the true-class line of row 0 is drawn thicker,
        # and the legend should not suggest that class is special everywhere.
        handles=[
            Line2D([], [], color=line.get_color(), label=line.get_label())
            for line in probe_axes[0].get_lines()
        ],
        loc="outside right upper",
        title="class",
        fontsize="small",
        ncols=1 if n_classes <= 12 else 2,
    )
    return fig


# ---------------------------------------------------------------------------
# Spike raster
# ---------------------------------------------------------------------------


RASTER_SELECTIONS = ("most_active", "active", "random", "first")


def _check_spikes(spikes, name: str) -> np.ndarray:
    """Validate one layer's spike counts: 2-D, non-empty, no NaN."""
    spikes = _array_of_ndim(spikes, name, 2, "be 2-D with shape (n_steps, n_neurons)")
    if np.isnan(spikes).any():
        raise ValueError(
            f"{name} must not hold NaN; received {int(np.isnan(spikes).sum())} "
            "NaN value(s)"
        )
    return spikes


def _pick_neurons(counts: np.ndarray, n_shown: int, select: str, seed: int):
    """Indices of the neurons to draw, top row first, and the y-axis label."""
    if select == "most_active":
        # stable: among equally active neurons the lower index comes first
        order = np.argsort(-counts, kind="stable")[:n_shown]
        return order, "neurons, most active at the top"
    if select == "active":
        # a sample of the neurons that fired: the spread of rates, where the
        # most active alone are often all at one spike per step
        fired = np.flatnonzero(counts > 0)
        if fired.size > n_shown:
            fired = np.random.default_rng(seed).choice(fired, n_shown, replace=False)
        if fired.size == 0:
            return np.arange(n_shown), "neuron index (none fired)"
        order = fired[np.argsort(-counts[fired], kind="stable")]
        return order, "neurons that fired, most active at the top"
    if select == "random":
        pick = np.random.default_rng(seed).choice(counts.size, n_shown, replace=False)
        return np.sort(pick), f"random neurons (seed {seed}), by index"
    return np.arange(n_shown), "neuron index"


def _draw_raster(ax, spikes, dt, max_neurons, select, seed, title, layer=None):
    n_steps, n_neurons = spikes.shape
    # signed spikes (leaky IF) count by magnitude
    magnitude = np.abs(spikes)
    counts = magnitude.sum(axis=0)
    neurons, ylabel = _pick_neurons(counts, min(n_neurons, max_neurons), select, seed)
    n_shown = len(neurons)
    shown = magnitude[:, neurons]
    steps, rows = np.nonzero(shown > 0)
    times = (steps + 1) * dt
    # Scale tick height with the number of rows so ticks neither overlap nor
    # vanish; "|" markers are sized in points, the axes is roughly 250 pt tall.
    tick_points = float(np.clip(250.0 / n_shown, 1.0, 12.0))
    several = shown.max(initial=0) > 1
    # more than one spike in a step (IF neurons with reset by subtraction):
    # the tick's colour says how many
    artist = ax.scatter(
        times,
        rows,
        marker="|",
        s=tick_points**2,
        linewidths=max(0.5, min(1.5, tick_points / 6)),
        c=shown[steps, rows] if several else "black",
        cmap="viridis" if several else None,
        vmin=1 if several else None,
    )
    if several:
        ax.get_figure(root=True).colorbar(artist, ax=ax, label="spikes in the step")
    # Half a step of margin so ticks in the last step are not cut in half.
    ax.set_xlim(0.0, (n_steps + 0.5) * dt)
    ax.set_ylim(n_shown - 0.5, -0.5)  # row 0 at the top
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if select in ("random", "first"):
        ax.set_yticks(
            ax.get_yticks()[(ax.get_yticks() >= 0) & (ax.get_yticks() < n_shown)]
        )
        ax.set_yticklabels([str(neurons[int(t)]) for t in ax.get_yticks()])
    ax.set_xlabel("time (s)")
    ax.set_ylabel(ylabel)
    total = int(round(float(shown.sum())))
    if title is None:
        fired = int(np.sum(counts > 0))
        which = {
            "most_active": f"the {n_shown} most active of {n_neurons} neurons",
            "active": f"{n_shown} random of the {fired} (of {n_neurons}) that fired",
            "random": f"{n_shown} random of {n_neurons} neurons",
            "first": f"the first {n_shown} of {n_neurons} neurons",
        }[select]
        if n_shown == n_neurons:
            which = f"all {n_neurons} neurons"
        about = f"{which}, {total} spikes"
        title = f"{layer}: {about}" if layer else f"spike raster ({about})"
    ax.set_title(title, loc="left", fontsize="medium")


def plot_spike_raster(
    spikes,
    *,
    dt=0.001,
    ax=None,
    max_neurons=100,
    select="most_active",
    seed=0,
    title=None,
) -> Figure:
    """Plot a spike raster of a layer's most active neurons (or a sample).

    Parameters
    ----------
    spikes : array_like of shape (n_steps, n_neurons), or dict of str to such
        Spike counts per step and neuron (booleans count as 0 or 1; signed
        spikes of leaky integrate-and-fire neurons count by magnitude).
        Flatten multi-dimensional layers to ``n_neurons`` first.  A simulator
        output in amplitude units becomes counts as ``output * dt /
        amplitude`` (a spike is ``amplitude / dt``).  A dict ``{layer_name:
        counts}`` draws one panel per layer, stacked in a column.
    dt : float, default 0.001
        Simulation timestep in seconds; step ``k`` (0-based) is drawn at
        ``(k + 1) * dt`` seconds.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into (a single array only). By default a new figure.
    max_neurons : int, default 100
        Draw at most this many neurons.
    select : {"most_active", "active", "random", "first"}, default "most_active"
        Which neurons: those with the most spikes (most active at the top;
        the first neurons of a convolutional layer are often the image's
        blank corner, silent); a seeded random sample of those that fired,
        most active at the top (the spread of rates: the most active alone
        are often all at one spike per step); a seeded random sample; or
        the first ones.
    seed : int, default 0
        Seed of ``select="active"`` and ``select="random"``.
    title : str, optional
        Axes title (figure title for a dict). Defaults to a note of which
        neurons are shown and how many spikes they fired.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the raster (the figure of ``ax`` if given).  Ticks
        are black when no neuron fires more than once per step; otherwise
        their colour is the step's spike count (with a colour bar).

    Raises
    ------
    ValueError
        If ``spikes`` is not 2-D, is empty or holds NaN; if ``dt`` is not
        positive; if ``max_neurons`` is not a positive integer; if ``select``
        is unknown; or if ``ax`` is not an Axes (or is given with a dict).
    """
    dt = check_positive("dt", dt, unit="in seconds")
    max_neurons = check_int("max_neurons", max_neurons)
    check_choice("select", select, RASTER_SELECTIONS)
    _check_ax(ax)
    if not isinstance(spikes, Mapping):
        spikes = _check_spikes(spikes, "spikes")
        fig, ax = _figure_and_axes(ax, figsize=(7.0, 4.0))
        _draw_raster(ax, spikes, dt, max_neurons, select, seed, title)
        return fig
    if not spikes:
        raise ValueError("spikes must hold at least one layer; received an empty dict")
    if ax is not None:
        raise ValueError(
            "ax must be None when spikes is a dict (one axes per layer is "
            f"created); received an Axes with {len(spikes)} layers"
        )
    layers = {str(k): _check_spikes(v, f"spikes[{k!r}]") for k, v in spikes.items()}
    fig = Figure(figsize=(7.0, 0.4 + 3.0 * len(layers)), layout="constrained")
    axes = fig.subplots(len(layers), 1, squeeze=False)[:, 0]
    for layer_ax, (name, counts) in zip(axes, layers.items(), strict=True):
        _draw_raster(layer_ax, counts, dt, max_neurons, select, seed, None, name)
    if title is not None:
        fig.suptitle(title)
    return fig


# ---------------------------------------------------------------------------
# Firing-rate histograms
# ---------------------------------------------------------------------------


def _check_rates(rates, name: str) -> np.ndarray:
    """Validate one layer's rates: 1-D, non-empty, finite and >= 0."""
    array = _array_of_ndim(rates, name, 1, "be 1-D (one firing rate per neuron, in Hz)")
    check_finite_array(name, array, dtype=None)
    if array.min() < 0:
        raise ValueError(
            f"{name} must be non-negative firing rates in Hz; received a minimum "
            f"of {array.min():g}"
        )
    return array


def _draw_rate_histogram(ax: Axes, rates: np.ndarray, bins: int) -> None:
    """Draw one layer's histogram with its silent fraction and mean rate."""
    # Bins start at 0 Hz, not at the lowest rate, so a layer with no silent
    # neurons does not look as if its slowest neurons were silent.
    ax.hist(
        rates,
        bins=bins,
        range=(0.0, float(rates.max())),
        color="tab:blue",
        edgecolor="white",
        linewidth=0.3,
    )
    silent = np.mean(rates == 0)
    ax.text(
        0.98,
        0.95,
        f"silent: {silent:.1%}\nmean: {rates.mean():.3g} Hz\nn = {rates.size}",
        transform=ax.transAxes,
        ha="right",
        va="top",
        fontsize="small",
        bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8},
    )
    ax.set_ylabel("neurons")
    # Headroom so the annotation box sits above the tallest bar.
    ax.set_ylim(top=ax.get_ylim()[1] * 1.3)


def plot_rate_histogram(rates, *, ax=None, bins=50, title=None) -> Figure:
    """Plot the distribution of per-neuron firing rates.

    Each panel is annotated with the fraction of silent neurons (rate exactly
    0), the mean rate and the number of neurons: many silent neurons or very
    high rates are the usual signs of a badly scaled conversion.

    Parameters
    ----------
    rates : array_like of shape (n_neurons,) or dict of str to array_like
        Firing rate of each neuron in Hz. A dict ``{layer_name: rates}`` draws
        one panel per layer, stacked in a column and titled by layer name.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; only for a single array (a dict needs one axes per
        layer, so a new figure is always created).
    bins : int, default 50
        Number of histogram bins, spanning 0 Hz to each layer's highest rate.
    title : str, optional
        Axes title for a single array, or figure title for a dict.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the histogram(s) (the figure of ``ax`` if given).

    Raises
    ------
    ValueError
        If a rate array is not 1-D, is empty, holds NaN or infinity or has
        negative values; if ``rates`` is an empty dict; if ``ax`` is given
        with a dict or is not an Axes; or if ``bins`` is not a positive
        integer.
    """
    bins = check_int("bins", bins)
    _check_ax(ax)

    if not isinstance(rates, Mapping):
        rates = _check_rates(rates, "rates")
        fig, ax = _figure_and_axes(ax, figsize=(6.0, 4.0))
        _draw_rate_histogram(ax, rates, bins)
        ax.set_xlabel("firing rate (Hz)")
        if title is not None:
            ax.set_title(title)
        return fig

    if not rates:
        raise ValueError("rates must hold at least one layer; received an empty dict")
    if ax is not None:
        raise ValueError(
            "ax must be None when rates is a dict (one axes per layer is "
            f"created); received an Axes with {len(rates)} layers"
        )
    layers = {
        str(key): _check_rates(value, f"rates[{key!r}]") for key, value in rates.items()
    }
    fig = Figure(figsize=(6.0, 0.4 + 2.4 * len(layers)), layout="constrained")
    axes = fig.subplots(len(layers), 1, squeeze=False)[:, 0]
    for layer_ax, (name, layer_rates) in zip(axes, layers.items(), strict=True):
        _draw_rate_histogram(layer_ax, layer_rates, bins)
        layer_ax.set_title(name, loc="left", fontsize="medium")
    # Layers fire at very different rates, so each keeps its own x range, but
    # every panel gets the label so no axis is left unexplained.
    for layer_ax in axes:
        layer_ax.set_xlabel("firing rate (Hz)")
    if title is not None:
        fig.suptitle(title)
    return fig
