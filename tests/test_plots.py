"""Tests for rateconv.plots: what is drawn, not only that drawing succeeds."""

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from rateconv import plots


@pytest.fixture
def rng():
    """Seeded random generator so every run draws the same data."""
    return np.random.default_rng(1234)


def _hist_counts(ax):
    """Return the bar heights of the histogram drawn in ``ax``."""
    return np.array([patch.get_height() for patch in ax.patches])


def _assert_saves(fig, tmp_path, name="plot.png"):
    """Save ``fig`` as PNG and check the file starts with the PNG signature."""
    path = tmp_path / name
    fig.savefig(path)
    data = path.read_bytes()
    assert len(data) > 1000
    assert data[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------
# plot_error_vs_steps
# ---------------------------------------------------------------------------


class TestErrorVsSteps:
    def test_curve_is_percent_against_step_number(self, tmp_path):
        errors = np.linspace(0.9, 0.1, 30)
        fig = plots.plot_error_vs_steps(errors, rate_error=0.08, title="t")
        assert isinstance(fig, Figure)
        (ax,) = fig.axes
        spiking = [line for line in ax.get_lines() if line.get_label() == "spiking"]
        assert len(spiking) == 1
        np.testing.assert_allclose(spiking[0].get_ydata(), errors * 100)
        np.testing.assert_array_equal(spiking[0].get_xdata(), np.arange(1, 31))
        assert ax.get_xlabel() == "timesteps"
        assert "%" in ax.get_ylabel()
        assert ax.get_title() == "t"
        _assert_saves(fig, tmp_path)

    def test_rate_error_is_dashed_horizontal_line(self):
        fig = plots.plot_error_vs_steps([0.5, 0.3, 0.2], rate_error=0.08)
        (rate,) = [
            line for line in fig.axes[0].get_lines() if line.get_label() == "rate mode"
        ]
        np.testing.assert_allclose(rate.get_ydata(), [8.0, 8.0])
        assert rate.get_linestyle() == "--"
        legend_texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert legend_texts == ["spiking", "rate mode"]

    def test_no_rate_line_without_rate_error(self):
        fig = plots.plot_error_vs_steps([0.5, 0.3], label="mine")
        labels = [line.get_label() for line in fig.axes[0].get_lines()]
        assert labels == ["mine"]

    def test_dt_gives_time_in_ms(self):
        fig = plots.plot_error_vs_steps([0.5, 0.4, 0.3, 0.2], dt=0.002)
        ax = fig.axes[0]
        np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), [2, 4, 6, 8])
        assert "ms" in ax.get_xlabel()

    def test_dict_draws_one_curve_per_entry(self):
        curves = {"none": [0.9, 0.5, 0.2], "0.01": [0.8, 0.3, 0.1, 0.05]}
        fig = plots.plot_error_vs_steps(curves, rate_error=0.04)
        lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
        assert set(lines) == {"none", "0.01", "rate mode"}
        np.testing.assert_allclose(lines["none"].get_ydata(), [90, 50, 20])
        np.testing.assert_allclose(lines["0.01"].get_ydata(), [80, 30, 10, 5])

    def test_draws_into_given_axes(self):
        fig = Figure()
        ax1, ax2 = fig.subplots(1, 2)
        returned = plots.plot_error_vs_steps([0.5, 0.2], ax=ax2)
        assert returned is fig
        assert len(ax2.get_lines()) == 1
        assert len(ax1.get_lines()) == 0

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"errors": np.zeros((3, 4))}, r"errors must be 1-D.*\(3, 4\)"),
            ({"errors": []}, "errors must not be empty"),
            ({"errors": [0.5, np.nan, 0.1]}, r"errors must be finite.*index \(1,\)"),
            ({"errors": [50.0, 20.0]}, r"errors must be fractions in \[0, 1\]"),
            ({"errors": {}}, "errors must hold at least one curve"),
            ({"errors": {"a": [0.1, np.nan]}}, r"errors\['a'\] must be finite"),
            ({"errors": [0.5], "rate_error": 8.0}, r"rate_error must be .*\[0, 1\]"),
            ({"errors": [0.5], "rate_error": "x"}, r"rate_error must be .*\[0, 1\]"),
            ({"errors": [0.5], "dt": 0}, "dt must be a positive"),
            ({"errors": [0.5], "ax": "ax"}, "ax must be a matplotlib Axes"),
            ({"errors": ["a", "b"]}, "errors must be a numeric array"),
        ],
    )
    def test_bad_input_raises(self, kwargs, match):
        errors = kwargs.pop("errors")
        with pytest.raises(ValueError, match=match):
            plots.plot_error_vs_steps(errors, **kwargs)


# ---------------------------------------------------------------------------
# plot_output_probes
# ---------------------------------------------------------------------------


class TestOutputProbes:
    def test_layout_and_traces(self, rng, tmp_path):
        images = rng.random((3, 28, 28))
        probes = rng.random((3, 20, 10))
        names = [f"c{i}" for i in range(10)]
        fig = plots.plot_output_probes(
            images, probes, labels=[3, 7, 1], class_names=names, dt=0.002
        )
        assert len(fig.axes) == 6
        image_axes, probe_axes = fig.axes[0::2], fig.axes[1::2]
        for row, ax in enumerate(image_axes):
            (shown,) = ax.get_images()
            np.testing.assert_array_equal(shown.get_array(), images[row])
        assert [ax.get_title() for ax in image_axes] == [
            "label: c3",
            "label: c7",
            "label: c1",
        ]
        for row, ax in enumerate(probe_axes):
            lines = ax.get_lines()
            assert len(lines) == 10
            for cls, line in enumerate(lines):
                np.testing.assert_allclose(line.get_ydata(), probes[row, :, cls])
                np.testing.assert_allclose(
                    line.get_xdata(), (np.arange(20) + 1) * 0.002
                )
        assert probe_axes[-1].get_xlabel() == "time (s)"
        (legend,) = fig.legends
        assert [t.get_text() for t in legend.get_texts()] == names
        _assert_saves(fig, tmp_path)

    def test_true_class_is_emphasised(self, rng):
        probes = rng.random((2, 5, 4))
        fig = plots.plot_output_probes(rng.random((2, 8, 8)), probes, labels=[2, 0])
        widths = [line.get_linewidth() for line in fig.axes[1].get_lines()]
        assert widths[2] > max(widths[:2] + widths[3:])
        # The legend must not carry the row-0 emphasis over to every row.
        legend_widths = {h.get_linewidth() for h in fig.legends[0].legend_handles}
        assert len(legend_widths) == 1

    def test_channel_axis_and_n_images(self, rng):
        images = rng.random((5, 12, 12, 1))
        fig = plots.plot_output_probes(images, rng.random((5, 4, 3)), n_images=2)
        assert len(fig.axes) == 4
        np.testing.assert_array_equal(
            fig.axes[2].get_images()[0].get_array(), images[1, :, :, 0]
        )
        # No labels: no titles; default legend entries are class indices.
        assert fig.axes[0].get_title() == ""
        assert [t.get_text() for t in fig.legends[0].get_texts()] == ["0", "1", "2"]

    def test_labels_with_trailing_axes_are_accepted(self, rng):
        labels = np.array([[[1]], [[0]]])  # NengoDL's (batch, 1, 1) layout
        fig = plots.plot_output_probes(
            rng.random((2, 6, 6)), rng.random((2, 3, 2)), labels=labels
        )
        assert fig.axes[0].get_title() == "label: 1"

    def test_single_step(self, rng):
        fig = plots.plot_output_probes(rng.random((1, 6, 6)), rng.random((1, 1, 3)))
        assert len(fig.axes) == 2

    @pytest.mark.parametrize(
        ("images_shape", "probes_shape", "kwargs", "match"),
        [
            ((2, 784), (2, 5, 10), {}, r"images must have shape.*\(2, 784\)"),
            ((2, 8, 8, 2), (2, 5, 10), {}, r"images must have shape"),
            ((2, 8, 8), (2, 10), {}, r"probes must have shape.*\(2, 10\)"),
            ((3, 8, 8), (2, 5, 10), {}, "same batch size; received 3 images.*2"),
            ((0, 8, 8), (0, 5, 10), {}, "images must not be empty"),
            ((2, 8, 8), (2, 0, 10), {}, "probes must not be empty"),
            ((2, 8, 8), (2, 5, 10), {"labels": [1]}, "labels must hold one class"),
            ((2, 8, 8), (2, 5, 10), {"labels": [1, 10]}, r"labels must be.*\[0, 9\]"),
            ((2, 8, 8), (2, 5, 10), {"labels": [0.5, 1]}, "labels must be integer"),
            ((2, 8, 8), (2, 5, 3), {"class_names": ["a"]}, "class_names must have"),
            ((2, 8, 8), (2, 5, 3), {"class_names": "abc"}, "class_names must be a"),
            ((2, 8, 8), (2, 5, 3), {"dt": -0.001}, "dt must be a positive"),
            ((2, 8, 8), (2, 5, 3), {"n_images": 3}, "n_images must be at most"),
            ((2, 8, 8), (2, 5, 3), {"n_images": 0}, "n_images must be an int >= 1"),
        ],
    )
    def test_bad_input_raises(self, images_shape, probes_shape, kwargs, match):
        images = np.zeros(images_shape)
        probes = np.zeros(probes_shape)
        with pytest.raises(ValueError, match=match):
            plots.plot_output_probes(images, probes, **kwargs)

    def test_nan_in_probes_raises(self):
        probes = np.zeros((1, 4, 2))
        probes[0, 2, 1] = np.nan
        with pytest.raises(ValueError, match=r"probes must be finite.*\(0, 2, 1\)"):
            plots.plot_output_probes(np.zeros((1, 4, 4)), probes)


# ---------------------------------------------------------------------------
# plot_spike_raster
# ---------------------------------------------------------------------------


def _raster_points(fig):
    """Return the (time, neuron) offsets of the single raster scatter in fig."""
    (collection,) = [
        c for c in fig.axes[0].collections if isinstance(c, PathCollection)
    ]
    return np.asarray(collection.get_offsets())


class TestSpikeRaster:
    def test_one_point_per_spiking_step(self, tmp_path):
        spikes = np.zeros((5, 3))
        spikes[0, 0] = 1
        spikes[2, 1] = 3  # a count > 1 is still one tick
        spikes[4, 2] = 1
        spikes[4, 0] = True
        fig = plots.plot_spike_raster(spikes, dt=0.01, select="first", title="layer")
        points = _raster_points(fig)
        expected = {(0.01, 0), (0.03, 1), (0.05, 2), (0.05, 0)}
        assert {(round(t, 6), int(n)) for t, n in points} == expected
        ax = fig.axes[0]
        assert ax.get_xlabel() == "time (s)"
        assert ax.get_ylabel() == "neuron index"
        assert ax.get_title(loc="left") == "layer"
        # a step with 3 spikes: ticks coloured by count, with a colour bar
        assert fig.axes[1].get_ylabel() == "spikes in the step"
        _assert_saves(fig, tmp_path)

    def test_booleans_and_max_neurons(self, rng):
        spikes = rng.random((50, 300)) < 0.05
        fig = plots.plot_spike_raster(spikes, max_neurons=40, select="first")
        points = _raster_points(fig)
        assert len(points) == spikes[:, :40].sum()
        assert points[:, 1].max() < 40
        assert fig.axes[0].get_ylim() == (39.5, -0.5)  # row 0 at the top
        assert "the first 40 of 300 neurons" in fig.axes[0].get_title(loc="left")
        assert len(fig.axes) == 1  # one spike per step at most: no colour bar

    def test_most_active_neurons_by_default(self):
        # the first neurons are silent (a conv layer's blank corner)
        spikes = np.zeros((20, 500))
        busy = [480, 7, 250]
        for rank, neuron in enumerate(busy):
            spikes[: 15 - 5 * rank, neuron] = 1  # 15, 10 and 5 spikes
        fig = plots.plot_spike_raster(spikes, max_neurons=3)
        points = _raster_points(fig)
        # row 0 (top) is the busiest neuron, then the next
        rows = points[:, 1].astype(int)
        assert [int(np.sum(rows == r)) for r in range(3)] == [15, 10, 5]
        ax = fig.axes[0]
        assert "most active" in ax.get_ylabel()
        assert "the 3 most active of 500 neurons, 30 spikes" in ax.get_title(loc="left")

    def test_active_samples_neurons_that_fired(self, rng):
        spikes = np.zeros((10, 1000))
        fired = rng.choice(1000, 60, replace=False)
        spikes[:, fired] = rng.random((10, 60)) < 0.5
        fig = plots.plot_spike_raster(spikes, max_neurons=20, select="active")
        title = fig.axes[0].get_title(loc="left")
        n_fired = int(np.sum(spikes.sum(0) > 0))
        assert f"20 random of the {n_fired} (of 1000) that fired" in title
        rows = _raster_points(fig)[:, 1].astype(int)
        assert set(rows) == set(range(20))  # every row shown fired

    def test_dict_draws_one_panel_per_layer(self, rng):
        layers = {"a": rng.random((5, 30)) < 0.3, "b": rng.poisson(1, (5, 8))}
        fig = plots.plot_spike_raster(layers, title="two layers")
        titles = [ax.get_title(loc="left") for ax in fig.axes]
        assert titles[0].startswith("a: all 30 neurons")
        assert titles[1].startswith("b: all 8 neurons")

    def test_no_spikes_draws_empty_raster(self):
        fig = plots.plot_spike_raster(np.zeros((10, 4)))
        assert len(_raster_points(fig)) == 0

    def test_draws_into_given_axes(self):
        fig = Figure()
        ax = fig.add_subplot()
        assert plots.plot_spike_raster(np.eye(4), ax=ax) is fig
        assert len(ax.collections) == 1

    @pytest.mark.parametrize(
        ("spikes", "kwargs", "match"),
        [
            (np.zeros(10), {}, r"spikes must be 2-D.*\(10,\)"),
            (np.zeros((2, 3, 4)), {}, r"spikes must be 2-D.*\(2, 3, 4\)"),
            (np.zeros((0, 5)), {}, "spikes must not be empty"),
            (np.array([[0.0, np.nan]]), {}, "spikes must not hold NaN"),
            (np.zeros((3, 3)), {"dt": 0}, "dt must be a positive"),
            (np.zeros((3, 3)), {"max_neurons": 0}, "max_neurons must be an int >= 1"),
            (np.zeros((3, 3)), {"max_neurons": 2.5}, "max_neurons must be an int >= 1"),
            (np.zeros((3, 3)), {"ax": 1}, "ax must be a matplotlib Axes"),
            (np.zeros((3, 3)), {"select": "best"}, "select must be one of"),
            ({}, {}, "spikes must hold at least one layer"),
        ],
    )
    def test_bad_input_raises(self, spikes, kwargs, match):
        with pytest.raises(ValueError, match=match):
            plots.plot_spike_raster(spikes, **kwargs)


# ---------------------------------------------------------------------------
# plot_rate_histogram
# ---------------------------------------------------------------------------


def _text_of(ax):
    """Return all text artists of ``ax`` joined, for checking annotations."""
    return "\n".join(text.get_text() for text in ax.texts)


class TestRateHistogram:
    def test_counts_and_annotation(self, rng, tmp_path):
        rates = rng.gamma(2.0, 20.0, 400)
        rates[:100] = 0.0
        fig = plots.plot_rate_histogram(rates, bins=30, title="conv1")
        (ax,) = fig.axes
        counts = _hist_counts(ax)
        assert len(counts) == 30
        assert counts.sum() == 400
        text = _text_of(ax)
        assert "silent: 25.0%" in text
        assert f"mean: {rates.mean():.3g} Hz" in text
        assert ax.get_xlabel() == "firing rate (Hz)"
        assert ax.get_ylabel() == "neurons"
        assert ax.get_title() == "conv1"
        _assert_saves(fig, tmp_path)

    def test_bins_start_at_zero(self):
        fig = plots.plot_rate_histogram(np.array([10.0, 20.0, 30.0]), bins=3)
        assert fig.axes[0].patches[0].get_x() == 0.0
        np.testing.assert_array_equal(_hist_counts(fig.axes[0]), [0, 1, 2])

    def test_all_silent_layer(self):
        fig = plots.plot_rate_histogram(np.zeros(7))
        assert _hist_counts(fig.axes[0]).sum() == 7
        assert "silent: 100.0%" in _text_of(fig.axes[0])

    def test_dict_gives_one_axes_per_layer(self, rng):
        layers = {
            "conv1": rng.gamma(2.0, 30.0, 300),
            "conv2": np.concatenate([np.zeros(50), rng.gamma(1.0, 50.0, 150)]),
            "dense": rng.gamma(3.0, 10.0, 64),
        }
        fig = plots.plot_rate_histogram(layers, bins=20, title="rates")
        assert len(fig.axes) == 3
        for ax, (name, rates) in zip(fig.axes, layers.items(), strict=True):
            assert ax.get_title(loc="left") == name
            assert _hist_counts(ax).sum() == rates.size
            assert ax.get_xlabel() == "firing rate (Hz)"
            silent = np.mean(rates == 0)
            assert f"silent: {silent:.1%}" in _text_of(ax)
        assert fig.get_suptitle() == "rates"

    def test_draws_into_given_axes(self):
        fig = Figure()
        ax = fig.add_subplot()
        assert plots.plot_rate_histogram([1.0, 2.0, 0.0], ax=ax, bins=3) is fig
        assert _hist_counts(ax).sum() == 3

    @pytest.mark.parametrize(
        ("rates", "kwargs", "match"),
        [
            (np.zeros((3, 4)), {}, r"rates must be 1-D.*\(3, 4\)"),
            (np.array([]), {}, "rates must not be empty"),
            (np.array([1.0, np.nan]), {}, "rates must be finite"),
            (np.array([1.0, -2.0]), {}, "rates must be non-negative"),
            ({}, {}, "rates must hold at least one layer"),
            ({"fc": np.zeros((2, 2))}, {}, r"rates\['fc'\] must be 1-D"),
            ({"fc": np.ones(3)}, {"ax": "set"}, "ax must be"),
            (np.ones(3), {"bins": 0}, "bins must be an int >= 1"),
            (np.ones(3), {"bins": "auto"}, "bins must be an int >= 1"),
        ],
    )
    def test_bad_input_raises(self, rates, kwargs, match):
        if kwargs.get("ax") == "set":
            kwargs["ax"] = Figure().add_subplot()
        with pytest.raises(ValueError, match=match):
            plots.plot_rate_histogram(rates, **kwargs)


def _imported(module):
    """The modules ``module``'s source imports (absolute imports, dotted names)."""
    import ast
    import pathlib

    tree = ast.parse(pathlib.Path(module.__file__).read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "rateconv uses absolute imports"
            names.add(node.module)
    return names


def test_module_imports_only_numpy_and_matplotlib():
    """plots must stay light (no TensorFlow), whatever the package imports:
    numpy, matplotlib and the validation module (itself numpy only)."""
    from rateconv import _checks

    light = {"__future__", "collections", "math", "numbers", "numpy", "matplotlib"}
    names = _imported(plots)
    assert {name.split(".")[0] for name in names - {"rateconv._checks"}} <= light
    assert {name.split(".")[0] for name in _imported(_checks)} <= light
