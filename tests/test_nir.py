"""NIR export and import, checked against an independent NIR interpreter.

`tests.nir_reference` runs an exported graph from NIR's equations alone
(numpy, float64); rateconv's simulator runs the converted network (float32).
"""

import math

import keras
import nir
import numpy as np
import pytest

import rateconv
from tests import nir_reference

N_STEPS = 20
# firing-rate scales that make every layer of _residual_if_model spike
SCALES = {"c1": 40.0, "relu_add": 40.0, "c3": 60.0, "d1": 100.0}


def _residual_if_model(seed=0):
    """IF neurons through conv (valid and same), avg pool, residual add, dense."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((8, 8, 1), name="image")
    h1 = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1")(inp)
    h2 = keras.layers.Conv2D(4, 3, padding="same", name="c2")(h1)
    h = keras.layers.ReLU(name="relu_add")(keras.layers.Add(name="add")([h2, h1]))
    h = keras.layers.AveragePooling2D(2, name="pool")(h)
    h = keras.layers.Conv2D(6, 3, activation="relu", name="c3")(h)
    h = keras.layers.Flatten(name="flat")(h)
    h = keras.layers.Dense(12, activation="relu", name="d1")(h)
    out = keras.layers.Dense(3, name="out")(h)
    return keras.Model(inp, out, name="residual_if")


def _images(n=4, seed=1, scale=30.0):
    rng = np.random.default_rng(seed)
    return (scale * rng.uniform(size=(n, 8, 8, 1))).astype(np.float32)


def _rateconv_spikes(net, x, layers, n_steps=N_STEPS):
    """Spike counts per step of ``layers`` from rateconv's simulator.

    Keyed by the NIR node of each layer's neurons, channels first.
    """
    outputs, raw = rateconv.Simulator(net, warn_activity=False).predict(
        x, n_steps=n_steps, probe_layers=layers, probe_synapse=None, readout="last"
    )
    spikes = {}
    for name in layers:
        stage = net[name]
        values = raw[name] if raw[name].ndim < 5 else np.moveaxis(raw[name], -1, 2)
        node = name if stage.op is None else f"{name}.spikes"
        spikes[node] = np.rint(values * 0.001 / stage.spiking_neuron.amplitude)
    return outputs, spikes


def _nir_input(x):
    return np.moveaxis(x, -1, 1)


def test_if_network_spikes_exactly_as_the_reference_interpreter():
    model = _residual_if_model()
    net = rateconv.convert(model, scale_firing_rates=SCALES)
    graph = rateconv.export_nir(net, probe=False)
    x = _images()
    layers = [s.name for s in net.neuron_stages]
    outputs, spikes = _rateconv_spikes(net, x, layers)
    _, counts = nir_reference.run(graph, _nir_input(x), N_STEPS)
    assert len(spikes) == 4
    for name in spikes:
        assert spikes[name].sum() > 50, name  # the test is not vacuous
        np.testing.assert_array_equal(spikes[name], counts[name], err_msg=name)
    values, _ = nir_reference.run(graph, _nir_input(x), N_STEPS)
    np.testing.assert_allclose(values["out.output"], outputs, rtol=1e-4, atol=1e-3)


def test_if_network_with_synapses_and_probe_matches_the_interpreter():
    net = rateconv.convert(_residual_if_model(), synapse=0.005)
    graph = rateconv.export_nir(net)  # ends with the probe's LI
    assert isinstance(graph.nodes["c1.synapse0"], nir.LI)
    assert isinstance(graph.nodes["out.probe0"], nir.LI)
    x = _images()
    sim = rateconv.Simulator(net, warn_activity=False)
    expected = sim.predict(x, n_steps=N_STEPS, readout="last")
    values, counts = nir_reference.run(graph, _nir_input(x), N_STEPS)
    np.testing.assert_allclose(values["out.output"], expected, rtol=1e-4, atol=1e-4)
    evaluation = sim.evaluate(x, np.zeros(len(x), int), n_steps=N_STEPS)
    for name, activity in evaluation.activity.items():
        assert activity.spike_count == counts[_node(net, name)].sum(), name


def _lif_model(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, activation="relu", name="c1"),
            keras.layers.AveragePooling2D(2, name="pool"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(16, activation="relu", name="d1"),
            keras.layers.Dense(3, name="out"),
        ]
    )


def test_lif_network_spikes_close_to_the_reference_interpreter():
    # LIF without refractory period, reset to zero and no voltage floor is
    # the interpreter's LIF exactly; the two differ by float rounding only
    # (float32 and expm1 here, float64 and exp there), which flips a spike
    # where the voltage ends a step within ~1e-7 of the threshold, and a
    # flipped spike changes what follows it.  So: at most 0.5% of the
    # (neuron, step) spike values differ, and every neuron's spike count by
    # at most 1.
    lif = rateconv.LIF(tau_rc=0.02, tau_ref=0.0, min_voltage=-math.inf)
    net = rateconv.convert(_lif_model(), swap_activations={"relu": lif})
    graph = rateconv.export_nir(net, probe=False)
    x = _images(scale=200.0)
    layers = ["c1", "d1"]
    _, spikes = _rateconv_spikes(net, x, layers, n_steps=40)
    _, counts = nir_reference.run(graph, _nir_input(x), 40)
    for name in spikes:
        assert spikes[name].sum() > 100, name
        differ = np.mean(spikes[name] != counts[name])
        assert differ <= 0.005, (name, differ)
        per_neuron = np.abs(spikes[name].sum(1) - counts[name].sum(1))
        assert per_neuron.max() <= 1, name


def test_conv_kernel_and_dense_rows_are_in_nir_order():
    model = _lif_model()
    net = rateconv.convert(model)
    graph = rateconv.export_nir(
        net, approximate_refractory=True, approximate_voltage=True
    )
    kernel = model.get_layer("c1").kernel.numpy()  # (kH, kW, Cin, Cout)
    gain = net["c1"].spiking_neuron.gain  # folded with the bias
    np.testing.assert_allclose(
        graph.nodes["c1"].weight, kernel.transpose(3, 2, 0, 1) * gain, rtol=1e-6
    )
    dense = model.get_layer("d1").kernel.numpy()  # rows in (h, w, c) order
    h, w, c = 3, 3, 4
    nir_rows = dense.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1)
    pool = 1 / 4  # the average pooling's 1/k**2, folded into the next weights
    amplitude = net["c1"].spiking_neuron.amplitude
    np.testing.assert_allclose(
        graph.nodes["d1"].weight,
        nir_rows.T * pool * amplitude * net["d1"].spiking_neuron.gain,
        rtol=1e-6,
    )
    assert isinstance(graph.nodes["pool"], nir.SumPool2d)
    assert graph.nodes["flat"].start_dim == 0


def _node(net, name):
    """The NIR node of stage ``name``'s neurons (the imported stage's name)."""
    return name if net[name].op is None else f"{name}.spikes"


def test_export_then_import_gives_the_same_spikes(tmp_path):
    net = rateconv.convert(_residual_if_model(), scale_firing_rates=SCALES)
    back = rateconv.import_nir(rateconv.export_nir(net))
    x = _images()
    out_a, spikes_a = _rateconv_spikes(net, x, [s.name for s in net.neuron_stages])
    out_b, spikes_b = _rateconv_spikes(back, x, [s.name for s in back.neuron_stages])
    assert set(spikes_b) == set(spikes_a)  # stages named after the NIR nodes
    for name in spikes_a:
        assert spikes_a[name].sum() > 50
        np.testing.assert_array_equal(spikes_a[name], spikes_b[name], err_msg=name)
    np.testing.assert_allclose(out_a, out_b, rtol=1e-4, atol=1e-3)


def test_export_to_a_file_and_import_with_synapses_and_probe(tmp_path):
    net = rateconv.convert(
        _residual_if_model(), synapse=0.005, scale_firing_rates=SCALES
    )
    path = tmp_path / "net.nir"
    rateconv.export_nir(net, path)
    back = rateconv.import_nir(path)
    assert back.name == "net"
    assert back.probe_synapse == net.probe_synapse
    assert back["c1.spikes"].synapse == rateconv.Lowpass(0.005)
    x, y = _images(), np.zeros(4, int)
    a = rateconv.Simulator(net, warn_activity=False).evaluate(
        x, y, n_steps=N_STEPS, return_outputs=True
    )
    b = rateconv.Simulator(back, warn_activity=False).evaluate(
        x, y, n_steps=N_STEPS, return_outputs=True
    )
    for stage in net.neuron_stages:
        counts_a = a.activity[stage.name].rates
        counts_b = b.activity[_node(net, stage.name)].rates
        assert counts_a.sum() > 0
        np.testing.assert_allclose(counts_a, counts_b, rtol=1e-6, err_msg=stage.name)
    np.testing.assert_allclose(a.outputs, b.outputs, rtol=1e-4, atol=1e-4)
    # rate mode too: the imported network computes the same function
    np.testing.assert_allclose(
        rateconv.Simulator(net).predict(x, mode="rate"),
        rateconv.Simulator(back).predict(x, mode="rate"),
        rtol=1e-4,
        atol=1e-4,
    )


def test_import_of_a_foreign_graph_runs_as_the_interpreter():
    # a graph as another tool writes it: r, v_leak, thresholds per neuron,
    # an alpha synapse, a probe filter with r != 1
    rng = np.random.default_rng(0)
    n_in, n_hid, n_out = 6, 8, 3
    ones = np.ones(n_hid)
    graph = nir.NIRGraph(
        nodes={
            "in": nir.Input(np.array([n_in])),
            "fc1": nir.Affine(rng.normal(size=(n_hid, n_in)), rng.normal(size=n_hid)),
            "lif": nir.LIF(
                tau=0.01 * ones,
                r=rng.uniform(1, 3, size=n_hid),
                v_leak=rng.uniform(0, 2, size=n_hid),
                v_threshold=rng.uniform(0.5, 2, size=n_hid),
                v_reset=0 * ones,
            ),
            "syn_a": nir.LI(tau=0.004 * ones, r=ones, v_leak=0 * ones),
            "syn_b": nir.LI(tau=0.004 * ones, r=ones, v_leak=0 * ones),
            "fc2": nir.Linear(rng.normal(size=(n_out, n_hid)) * 0.01),
            "probe": nir.LI(
                tau=0.05 * np.ones(n_out), r=2 * np.ones(n_out), v_leak=np.zeros(n_out)
            ),
            "out": nir.Output(np.array([n_out])),
        },
        edges=[
            ("in", "fc1"), ("fc1", "lif"), ("lif", "syn_a"), ("syn_a", "syn_b"),
            ("syn_b", "fc2"), ("fc2", "probe"), ("probe", "out"),
        ],
    )  # fmt: skip
    net = rateconv.import_nir(graph)
    assert net["lif"].synapse == rateconv.Alpha(0.004)
    assert net.probe_synapse == rateconv.Lowpass(0.05)
    x = rng.uniform(0, 3, size=(5, n_in)).astype(np.float32)
    expected, counts = nir_reference.run(graph, x, 50)
    got = rateconv.Simulator(net, warn_activity=False).predict(
        x, n_steps=50, readout="last"
    )
    assert counts["lif"].sum() > 50
    np.testing.assert_allclose(got, expected["out"], rtol=2e-3, atol=2e-3)


# ----------------------------------------------------------------- refusals


def test_lif_with_refractory_period_is_refused_with_the_rate_it_would_reach():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, name="d"), keras.layers.Dense(2)]
    )
    neuron = rateconv.LIF.from_max_rate(100.0)  # tau_ref = 2 ms
    net = rateconv.convert(model, swap_activations={"d": neuron})
    with pytest.raises(ValueError, match="'d'") as info:
        rateconv.export_nir(net)
    message = str(info.value)
    assert "100 Hz becomes 125 Hz" in message
    assert "approximate_refractory=True" in message
    assert "approximate_voltage=True" in message  # min_voltage=0 by default
    graph = rateconv.export_nir(
        net, approximate_refractory=True, approximate_voltage=True
    )
    assert isinstance(graph.nodes["d.spikes"], nir.LIF)
    np.testing.assert_allclose(graph.nodes["d.spikes"].tau, 0.02)


@pytest.mark.parametrize(
    "layer, match",
    [
        (keras.layers.MaxPooling2D(2, name="mp"), "'mp'.*no max pooling"),
        (keras.layers.Conv2D(2, 2, strides=2, padding="same", name="cs"), None),
        (keras.layers.Conv2D(2, 2, padding="same", name="ce"), "'ce'.*asymmetric"),
        (keras.layers.LeakyReLU(name="leaky"), "'leaky'.*NIR has no neuron"),
    ],
)
def test_what_nir_cannot_express_is_refused_by_name(layer, match):
    model = keras.Sequential(
        [keras.Input((6, 6, 1)), keras.layers.Conv2D(2, 3, activation="relu"), layer,
         keras.layers.Flatten(), keras.layers.Dense(2)]
    )  # fmt: skip
    net = rateconv.convert(model)
    if match is None:  # stride 2 on an even map: symmetric "same", exported
        graph = rateconv.export_nir(net)
        assert graph.nodes["cs"].padding == (0, 0)
        return
    with pytest.raises(ValueError, match=match):
        rateconv.export_nir(net)


def test_concatenation_is_refused_by_name():
    inp = keras.Input((4,))
    a = keras.layers.Dense(3, activation="relu")(inp)
    b = keras.layers.Dense(3, activation="relu")(inp)
    out = keras.layers.Dense(2)(keras.layers.Concatenate(name="cat")([a, b]))
    net = rateconv.convert(keras.Model(inp, out))
    with pytest.raises(ValueError, match="'cat'.*concatenation"):
        rateconv.export_nir(net)


def test_import_refuses_unknown_nodes_and_arguments():
    graph = nir.NIRGraph(
        nodes={
            "in": nir.Input(np.array([2])),
            "cuba": nir.CubaLIF(
                tau_syn=np.ones(2), tau_mem=np.ones(2), r=np.ones(2),
                v_leak=np.zeros(2), v_threshold=np.ones(2),
            ),
            "out": nir.Output(np.array([2])),
        },
        edges=[("in", "cuba"), ("cuba", "out")],
    )  # fmt: skip
    with pytest.raises(ValueError, match="'cuba' \\(CubaLIF\\)"):
        rateconv.import_nir(graph)
    with pytest.raises(TypeError, match="graph_or_path"):
        rateconv.import_nir(42)
    with pytest.raises(TypeError, match="net must be"):
        rateconv.export_nir("network")


def test_import_of_a_corrupt_file_says_so(tmp_path):
    bad = tmp_path / "net.nir"
    bad.write_bytes(b"not an HDF5 file")
    with pytest.raises(ValueError, match="not a readable NIR file"):
        rateconv.import_nir(bad)


def test_round_trip_gives_identical_spikes_at_the_defaults(monkeypatch):
    """With the default precision (int8: integer spike sums), export then
    import runs the same spikes: every neuron's count and the outputs."""
    monkeypatch.delenv("RATECONV_PRECISION", raising=False)  # conftest pins it
    net = rateconv.convert(
        _residual_if_model(), synapse=0.005, scale_firing_rates=SCALES
    )
    back = rateconv.import_nir(rateconv.export_nir(net))
    x, y = _images(), np.zeros(4, int)
    runs = []
    for n in (net, back):
        sim = rateconv.Simulator(n, warn_activity=False)
        assert sim.precision == "int8"
        runs.append(sim.evaluate(x, y, n_steps=N_STEPS, return_outputs=True))
    a, b = runs
    for stage in net.neuron_stages:
        counts_a = a.activity[stage.name].rates
        counts_b = b.activity[_node(net, stage.name)].rates
        assert counts_a.sum() > 0
        np.testing.assert_array_equal(counts_a, counts_b, err_msg=stage.name)
    np.testing.assert_allclose(a.outputs, b.outputs, rtol=1e-5, atol=1e-6)
