"""Input encodings (latency, Poisson) and membrane-voltage probes."""

import keras
import numpy as np
import pytest

import rateconv
from rateconv.simulator import latency_steps
from tests.helpers import conv_net, images

ENGINES = ["time_batched", "step"]


def snntorch_latency(x, num_steps, log):
    """snnTorch's ``spikegen.latency(x, num_steps, threshold=0.01, clip=True,
    normalize=True, linear=not log)`` spike steps, transcribed in numpy (the
    batch holds a value below threshold, so the log normalization's max is
    that of ``threshold + epsilon``); -1: no spike."""
    threshold, eps = 0.01, 1e-7
    x = np.asarray(x, np.float64)
    if log:
        xc = np.maximum(x, threshold + eps)
        t = np.log(xc / (xc - threshold))
        t = t * (num_steps - 1) / np.log((threshold + eps) / eps)
    else:
        tau = num_steps - 1
        t = np.minimum(-tau * (x - 1), -tau * (threshold - 1))
    return np.where(x < threshold, -1, np.round(t)).astype(np.int64)


@pytest.mark.parametrize("log", [False, True])
def test_latency_steps_follow_snntorch(log):
    x = np.array([0.0, 0.005, 0.01, 0.02, 0.1, 0.25, 0.5, 0.75, 0.99, 1.0])
    for n_steps in (1, 5, 30, 100):
        got = latency_steps(x, n_steps, log=log).numpy()
        np.testing.assert_array_equal(got, snntorch_latency(x, n_steps, log))
    got = latency_steps(x, 100, log=log).numpy()
    # the documented convention: 1 fires first, below 0.01 never, brighter
    # never later
    assert got[-1] == 0 and got[0] == got[1] == -1
    assert np.all(np.diff(got[2:]) <= 0)
    if not log:
        assert got[2] == 98 and got[6] == 50  # round(0.99 * 99), round(49.5)
    else:
        assert got[2] == 99 and got[3] == 6 and got[6] == 0


@pytest.mark.parametrize("encoding", ["latency", "latency_log"])
def test_latency_input_fires_once_and_engines_agree(encoding):
    net = rateconv.convert(conv_net(), scale_firing_rates=50, initial_state="uniform")
    x = images(5)
    x[0, 0, 0, 0] = 0.0  # never fires
    x[0, 0, 1, 0] = 1.0  # fires at step 1
    inp = net.inputs[0]
    runs = []
    for engine, chunk in [("time_batched", 2**24), ("time_batched", 900)]:
        sim = rateconv.Simulator(
            net, engine=engine, minibatch_size=3, max_chunk_elements=chunk
        )
        runs.append(
            sim.predict(
                x, n_steps=40, input_encoding=encoding, seed=1, probe_layers=[inp]
            )
        )
    runs.append(
        rateconv.Simulator(net, engine="step", minibatch_size=3).predict(
            x, n_steps=40, input_encoding=encoding, seed=1, probe_layers=[inp]
        )
    )
    spikes = runs[0][1][inp]
    assert spikes.shape == (5, 40, 8, 8, 1)
    expected = latency_steps(x, 40, log=encoding == "latency_log").numpy()
    fires = expected >= 0
    np.testing.assert_array_equal(spikes.sum(axis=1), fires.astype("f4"))
    np.testing.assert_array_equal(spikes.argmax(axis=1)[fires], expected[fires])
    assert spikes[0, 0, 0, 1, 0] == 1 and spikes[0, :, 0, 0, 0].sum() == 0
    for out, layers in runs[1:]:  # whatever the engine and the chunking
        np.testing.assert_array_equal(layers[inp], spikes)
        np.testing.assert_allclose(out, runs[0][0], rtol=1e-5, atol=1e-6)


def test_latency_spike_times_scale_with_the_run():
    # the whole run's n_steps sets the code, not the chunk
    net = rateconv.convert(conv_net(), scale_firing_rates=50)
    inp = net.inputs[0]
    x = np.full((1, 8, 8, 1), 0.5, "f4")
    for n_steps in (11, 31):
        sim = rateconv.Simulator(net, max_chunk_elements=500)
        _, layers = sim.predict(
            x, n_steps=n_steps, input_encoding="latency", probe_layers=[inp]
        )
        assert np.all(layers[inp].argmax(axis=1) == (n_steps - 1) // 2)


def test_encoding_errors():
    net = rateconv.convert(conv_net())
    sim = rateconv.Simulator(net)
    with pytest.raises(ValueError, match="latency.*needs inputs in \\[0, 1\\]"):
        sim.predict(images(2) * 2, n_steps=3, input_encoding="latency")
    with pytest.raises(ValueError, match="time axis already"):
        sim.predict(np.zeros((2, 3, 8, 8, 1), "f4"), input_encoding="latency_log")
    with pytest.raises(ValueError, match="input_encoding must be one of"):
        sim.predict(images(2), n_steps=3, input_encoding="rank")


def test_poisson_mean_count_tends_to_the_value():
    net = rateconv.convert(conv_net())
    inp = net.inputs[0]
    x = images(2)
    _, layers = rateconv.Simulator(net).predict(
        x, n_steps=400, input_encoding="poisson", probe_layers=[inp]
    )
    # binomial: standard deviation of the mean at most 0.5 / sqrt(400)
    np.testing.assert_allclose(layers[inp].mean(axis=1), x, atol=0.1)
    assert abs(layers[inp].mean() - x.mean()) < 0.01


# --------------------------------------------------------------- voltages


def lif_net(tau_rc=0.02, tau_ref=0.002):
    """One LIF neuron per input value, J = the input."""
    model = keras.Sequential(
        [
            keras.Input((3,)),
            rateconv.SoftLIF(tau_rc=tau_rc, tau_ref=tau_ref, name="lif"),
        ]
    )
    return rateconv.convert(model)


@pytest.mark.parametrize("engine", ENGINES)
def test_lif_voltage_follows_the_rc_curve(engine):
    dt, tau_rc, tau_ref = 0.001, 0.02, 0.002
    net = lif_net(tau_rc, tau_ref)
    j = np.array([0.5, 1.5, 3.0], "f4")
    # a step input: 0 for 5 steps, then j
    x = np.zeros((1, 60, 3), "f4")
    x[:, 5:] = j
    out, probes = rateconv.Simulator(net, engine=engine, dt=dt).predict(
        x, probe_synapse=None, probe_voltages=["lif"]
    )
    v = probes["lif", "voltage"][0]
    assert v.shape == (60, 3)
    t = np.arange(1, 56) * dt  # time since the step, after each step
    rc = j * (1 - np.exp(-t[:, None] / tau_rc))  # tau_rc dv/dt = J - v
    np.testing.assert_array_equal(v[:5], 0)
    # below threshold the neuron charges towards J = 0.5 and never fires
    np.testing.assert_allclose(v[5:, 0], rc[:, 0], rtol=1e-5, atol=1e-6)
    assert not out[0, :, 0].any()
    # above threshold: the RC curve up to the first spike, at the analytic time
    # t* = -tau_rc log(1 - 1 / J) (rounded up to a whole step), then reset
    for i in (1, 2):
        first = int(np.ceil(-tau_rc * np.log(1 - 1 / j[i]) / dt))
        spikes = np.flatnonzero(out[0, :, i])
        assert spikes[0] == 5 + first - 1
        np.testing.assert_allclose(
            v[5 : 5 + first - 1, i], rc[: first - 1, i], rtol=1e-5, atol=1e-6
        )
        assert v[spikes[0], i] == 0  # reset to zero, then refractory
        assert np.all(v[:, i] <= 1)
    # the mean rate over a long run is the LIF rate curve
    many = rateconv.Simulator(net, engine=engine).predict(
        np.tile(j, (1, 1)), n_steps=2000, probe_synapse=None
    )
    rate = rateconv.neurons.lif_rate(j, tau_rc=tau_rc, tau_ref=tau_ref).numpy()
    np.testing.assert_allclose(many[0].mean(axis=0) * dt, rate * dt, atol=2e-3)


def test_voltage_probes_agree_between_engines():
    net = rateconv.convert(
        conv_net("softlif"), scale_firing_rates=3, initial_state="uniform"
    )
    x = images(5)
    runs = [
        rateconv.Simulator(
            net, engine=e, minibatch_size=3, max_chunk_elements=1500
        ).predict(
            x, n_steps=25, seed=3, probe_layers=["a2"], probe_voltages=["a1", "a2"]
        )
        for e in ENGINES
    ]
    (out_a, probes_a), (out_b, probes_b) = runs
    assert set(probes_a) == {"a2", ("a1", "voltage"), ("a2", "voltage")}
    assert probes_a["a1", "voltage"].shape == (5, 25, 6, 6, 4)
    for key in probes_a:
        np.testing.assert_allclose(probes_a[key], probes_b[key], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out_a, out_b, rtol=1e-4, atol=1e-5)
    v = probes_a["a2", "voltage"]
    assert v.min() >= 0 and v.max() <= 1 and v.std() > 0.05
    # voltage probes leave the outputs as they were
    plain = rateconv.Simulator(net, minibatch_size=3).predict(x, n_steps=25, seed=3)
    np.testing.assert_allclose(plain, out_a, rtol=1e-6, atol=1e-7)


def test_voltage_probe_errors():
    net = rateconv.convert(conv_net())
    sim = rateconv.Simulator(net)
    with pytest.raises(ValueError, match="probe_voltages must name spiking layers"):
        sim.predict(images(2), n_steps=3, probe_voltages=["dense"])
    with pytest.raises(ValueError, match="probe_voltages needs mode='spiking'"):
        sim.predict(images(2), mode="rate", probe_voltages=["a1"])
