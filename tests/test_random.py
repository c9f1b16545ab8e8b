"""Per-sample random streams (rateconv/simulator/_random.py)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import rateconv
from rateconv.simulator import _random
from tests.helpers import conv_net, images


def _draws(samples, steps, seed=0, stream=_random.POISSON_STREAM, n=784):
    return _random._draws(
        tf.constant(seed, tf.int64),
        tf.constant(stream, tf.int64),
        tf.constant(samples, tf.int64),
        tf.constant(steps, tf.int64),
        n,
    ).numpy()


def test_draws_are_uniform_and_exact_float32():
    u = _draws(np.arange(64), np.arange(20))
    assert u.shape == (20, 64, 784)
    assert u.min() >= 0 and u.max() < 1
    # 24-bit draws: every value a multiple of 2**-24
    np.testing.assert_array_equal(u * 2**24, np.floor(u * 2**24))
    n = u.size
    assert abs(u.mean() - 0.5) < 4 * np.sqrt(1 / 12 / n)
    assert abs(u.var() - 1 / 12) < 1e-3
    hist = np.histogram(u, bins=16, range=(0, 1))[0] / n
    np.testing.assert_allclose(hist, 1 / 16, atol=2e-3)
    # neighbouring elements, samples and steps are uncorrelated
    flat = u - 0.5
    for a, b in [
        (flat[:, :, 1:], flat[:, :, :-1]),
        (flat[:, 1:], flat[:, :-1]),
        (flat[1:], flat[:-1]),
    ]:
        assert abs(np.mean(a * b)) / (1 / 12) < 0.01


def test_a_sample_draws_the_same_wherever_it_runs():
    whole = _draws(np.arange(10), np.arange(6))
    part = _draws(np.arange(4, 7), np.arange(2, 5))
    np.testing.assert_array_equal(part, whole[2:5, 4:7])
    assert not np.array_equal(_draws([0], [0], seed=1), _draws([0], [0], seed=0))
    other = _draws([0], [0], stream=_random.VOLTAGE_STREAM)
    assert not np.array_equal(other, _draws([0], [0]))


def test_bernoulli_edges_and_time_major():
    samples = _random.sample_indices(5, 3)
    steps = tf.range(4, dtype=tf.int64)
    x = tf.constant(np.tile([0.0, 1.0, 0.3], (3, 1)).astype(np.float32))
    s = _random.bernoulli_spikes(x, 2, 1, samples, steps).numpy()
    assert s.shape == (4, 3, 3)
    assert (s[..., 0] == 0).all() and (s[..., 1] == 1).all()
    tiled = tf.broadcast_to(x[None], (4, 3, 3))
    t = _random.bernoulli_spikes(tiled, 2, 1, samples, steps, time_major=True)
    np.testing.assert_array_equal(s, t.numpy())


@pytest.mark.filterwarnings("ignore::rateconv.ActivityWarning")  # tiny, quiet net
@pytest.mark.parametrize("engine", ["time_batched", "step"])
def test_minibatch_layout_does_not_change_poisson_or_uniform_runs(engine):
    net = rateconv.convert(
        conv_net(), scale_firing_rates=30, initial_state="uniform", synapse=0.005
    )
    x = images(11)
    y = np.arange(11) % 5
    runs = []
    for size in (3, 7):  # both leave a padded remainder
        sim = rateconv.Simulator(
            net, minibatch_size=size, engine=engine, max_chunk_elements=700
        )
        for encoding in ("constant", "poisson"):
            runs.append(
                sim.evaluate(
                    x,
                    y,
                    n_steps=12,
                    input_encoding=encoding,
                    seed=4,
                    return_outputs=True,
                )
            )
    for a, b in zip(runs[:2], runs[2:]):
        np.testing.assert_array_equal(a.outputs, b.outputs)
        np.testing.assert_array_equal(a.errors, b.errors)
        for name, activity in a.activity.items():
            np.testing.assert_array_equal(activity.rates, b.activity[name].rates)
    # the Poisson input does draw
    assert not np.array_equal(runs[0].outputs, runs[1].outputs)


def test_inputs_of_one_shape_spike_independently():
    a, b = keras.Input((40,), name="a"), keras.Input((40,), name="b")
    model = keras.Model([a, b], keras.layers.Subtract()([a, b]))
    sim = rateconv.Simulator(rateconv.convert(model), progress=False)
    x = np.full((2, 40), 0.5, np.float32)
    out = sim.predict([x, x], n_steps=5, probe_synapse=None, input_encoding="poisson")
    assert np.abs(out).max() > 0  # the two inputs' spikes differ


def test_initial_voltage_is_the_simulated_one():
    net = rateconv.convert(conv_net(), initial_state="uniform")
    stage = net.neuron_stages[0]
    v = rateconv.simulator.initial_voltage(net, stage.name, 3, seed=2, batch_start=5)
    whole = rateconv.simulator.initial_voltage(net, stage.name, 9, seed=2)
    np.testing.assert_array_equal(np.asarray(v), np.asarray(whole)[5:8])
    assert 0 <= np.min(v) and np.max(v) < 1
