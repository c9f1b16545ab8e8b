"""The figures the verbs write: ``--plot PATH`` and ``--plot-dir DIR``.

matplotlib is imported only when a figure is asked for.
"""

from __future__ import annotations

from pathlib import Path

from rateconv.metrics import spike_counts

#: Images whose output probes ``--plot-dir`` draws; the raster is the first's.
N_EXAMPLES = 4
#: Neurons per layer in ``--plot-dir``'s raster: a seeded sample of those
#: that fired, most active at the top.
RASTER_NEURONS = 50


def save_plots(path, x, y, result, class_names=None):
    """Write the error curve and the output probes of `result`; returns the paths.

    The probe figure goes beside `path`, named ``<stem>_probes<suffix>``.
    """
    from rateconv import plots

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = _error_curve(plots, result)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    probes_path = path.with_name(path.stem + "_probes" + path.suffix)
    n = min(N_EXAMPLES, len(x))
    fig = plots.plot_output_probes(
        x[:n],
        result.spiking.outputs[:n],
        labels=y[:n],
        class_names=class_names,
        dt=result.dt,
    )
    fig.savefig(probes_path, dpi=100, bbox_inches="tight")
    return [path, probes_path]


def _error_curve(plots, result):
    return plots.plot_error_vs_steps(
        result.spiking.errors,
        rate_error=result.rate.error,
        title="Spiking error vs timesteps (dashed: rate mode)",
    )


def _looks_like_images(x):
    return x.ndim == 3 or (x.ndim == 4 and x.shape[-1] in (1, 3))


def save_plot_dir(directory, x, y, result, n_steps, class_names=None):
    """Write ``--plot-dir``'s figures of `result`; returns the paths.

    ``error_vs_steps.png`` (with the rate-mode line), ``spike_raster.png``
    (50 neurons of each spiking layer that fired on the first sample, a
    seeded sample, most active at the top, in spike counts),
    ``firing_rates.png`` (per-neuron rates over every evaluated sample, Hz)
    and, for image inputs, ``output_probes.png`` (the first samples' output
    over time).
    """
    from rateconv import plots

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    sim = result.simulator
    network = sim.network
    names = [s.name for s in network.neuron_stages if s.spiking_neuron is not None]
    n = min(N_EXAMPLES, len(x))
    outputs, layers = sim.predict(
        x[:n],
        n_steps=n_steps,
        probe_synapse=result.probe_synapse,
        readout=result.readout,
        probe_layers=names,
    )
    if isinstance(outputs, list):
        outputs = outputs[0]
    figures = {"error_vs_steps.png": _error_curve(plots, result)}
    if names:
        counts = spike_counts(network, layers, sim.dt)
        first = {k: v[0].reshape(v.shape[1], -1) for k, v in counts.items()}
        figures["spike_raster.png"] = plots.plot_spike_raster(
            first,
            dt=sim.dt,
            max_neurons=RASTER_NEURONS,
            select="active",
            title=f"Spike raster of the first sample (label {y[0]}), spike counts",
        )
    rates = {k: a.rates for k, a in result.spiking.activity.items()}
    if rates:
        figures["firing_rates.png"] = plots.plot_rate_histogram(
            rates,
            title=f"Firing rates over {len(x)} samples and {n_steps} steps",
        )
    if _looks_like_images(x) and outputs.ndim == 3:
        figures["output_probes.png"] = plots.plot_output_probes(
            x[:n], outputs, labels=y[:n], class_names=class_names, dt=sim.dt
        )
    paths = []
    for name, fig in figures.items():
        fig.savefig(directory / name, dpi=100, bbox_inches="tight")
        paths.append(directory / name)
    return paths
