"""`rateconv.energy`: operations counted from the spikes emitted, and energy."""

import keras
import numpy as np
import pytest

import rateconv
from rateconv.energy import DEVICES, fan_out


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="c1"),
            keras.layers.Conv2D(2, 3, strides=2, activation="relu", name="c2"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(4, name="out"),
        ]
    )


def _independent_fan_out_c1():
    """Outputs of c2 (3x3 kernel, stride 2, valid, 2 channels) each c1 pixel feeds."""
    reached = np.zeros((6, 6))
    for oy in range(2):  # c2's output is 2x2
        for ox in range(2):
            reached[2 * oy : 2 * oy + 3, 2 * ox : 2 * ox + 3] += 1
    return np.repeat(reached[:, :, None] * 2, 3, axis=2)  # 2 out channels, 3 in


def test_fan_out_counts_stride_and_edges():
    net = rateconv.convert(_model())
    np.testing.assert_array_equal(fan_out(net, "c1"), _independent_fan_out_c1())
    np.testing.assert_array_equal(fan_out(net, "c2"), np.full((2, 2, 2), 4.0))


def test_energy_counts_spikes_times_fan_out_and_costs_them():
    net = rateconv.convert(_model(), scale_firing_rates=1000.0)
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(5, 6, 6, 1)).astype(np.float32)
    report = rateconv.energy(net, x, n_steps=12, devices=["loihi", "cpu"])
    activity = (
        rateconv.Simulator(net, warn_activity=False)
        .evaluate(x, np.zeros(5, int), n_steps=12)
        .activity
    )
    rows = {r["name"]: r for r in report.layers}
    counts = activity["c1"].rates.reshape(6, 6, 3) * 12 * 0.001  # per inference
    assert counts.sum() > 1
    expected = (counts * _independent_fan_out_c1()).sum()
    assert rows["c1"]["synops"] == pytest.approx(expected, rel=1e-6)
    assert rows["c1"]["spikes"] == pytest.approx(counts.sum(), rel=1e-6)
    assert rows["c1"]["neuron_updates"] == 6 * 6 * 3 * 12
    assert rows["c2"]["macs"] == 2 * 2 * 2 * 3 * 3 * 3
    assert rows["out"]["macs"] == 8 * 4
    totals = report.totals
    assert totals["input_macs"] == 6 * 6 * 3 * 9  # c1 reads the image, once
    loihi, cpu = DEVICES["loihi"], DEVICES["cpu"]
    e = report.device_energy(loihi)
    assert e["snn"] == pytest.approx(
        totals["synops"] * loihi.energy_per_synop
        + totals["neuron_updates"] * loihi.energy_per_neuron
    )
    ann = report.device_energy(cpu)["ann"]
    assert ann == pytest.approx(
        totals["macs"] * cpu.energy_per_synop + totals["neurons"] * 8.6e-9
    )
    d = report.as_dict()
    assert set(d["energy_per_inference"]) == {"loihi", "cpu"}
    assert "c1" in report.summary() and "loihi" in report.summary()


def test_graded_spikes_are_counted_one_by_one_and_named():
    x = np.random.default_rng(0).uniform(size=(5, 6, 6, 1)).astype(np.float32)
    spikes = {}
    for cap in (None, 1):
        # 20,000 Hz at dt 1 ms: several spikes' charge per step for many neurons
        net = rateconv.convert(
            _model(), scale_firing_rates=20000.0, max_spikes_per_step=cap
        )
        report = rateconv.energy(net, x, n_steps=6, devices=["loihi"])
        rows = {r["name"]: r for r in report.layers}
        ev = rateconv.Simulator(net, warn_activity=False).evaluate(
            x, np.zeros(5, int), n_steps=6
        )
        for name in ("c1", "c2"):
            counts = ev.activity[name].rates * 6 * 0.001
            assert rows[name]["spikes"] == pytest.approx(counts.sum(), rel=1e-6)
            assert rows[name]["max_spikes_per_step"] == (
                ev.activity[name].max_spikes_per_step
            )
        spikes[cap] = report.totals["spikes"]
        text = report.summary()
        if cap is None:
            assert rows["c1"]["max_spikes_per_step"] > 1
            assert set(report.graded_layers) == {"c1", "c2"}
            assert "graded spikes" in text and "c1" in text.split("graded")[1]
            assert report.totals["max_spikes_per_step"] > 1
        else:
            assert report.graded_layers == {}
            assert "binary spikes" in text
            assert report.totals["max_spikes_per_step"] == 1
    # a capped neuron fires fewer spikes in 6 steps: the extra charge waits
    assert spikes[None] > spikes[1]


def test_register_device_and_checks():
    device = rateconv.register_device(
        "test-chip", energy_per_synop=1e-12, energy_per_neuron=2e-12, spiking=True
    )
    try:
        assert DEVICES["test-chip"] is device
        with pytest.raises(ValueError, match="energy_per_synop"):
            rateconv.register_device(
                "bad", energy_per_synop=-1, energy_per_neuron=1, spiking=True
            )
        net = rateconv.convert(_model())
        with pytest.raises(ValueError, match="devices"):
            rateconv.energy(net, np.zeros((1, 6, 6, 1)), devices=["nope"])
    finally:
        del DEVICES["test-chip"]


def test_cli_energy_json(tiny_model_path, capsys):
    import json

    from rateconv.cli import main

    status = main(
        [
            "energy", str(tiny_model_path), "--dataset", "fashion_mnist_sample",
            "--n-images", "20", "--n-steps", "3", "--hardware", "loihi", "--json",
        ]
    )  # fmt: skip
    assert status == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_samples"] == 20 and out["n_steps"] == 3
    assert out["totals"]["neuron_updates"] == 16 * 3
    assert set(out["energy_per_inference"]) == {"loihi"}
