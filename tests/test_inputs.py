"""The forms ``x`` takes: dicts by input name, datasets, generators, and
time-varying inputs (NengoDL's ``(batch, n_steps, ...)``)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import rateconv
from rateconv.simulator import as_source
from tests.helpers import conv_net, images

pytestmark = pytest.mark.filterwarnings("ignore::rateconv.ActivityWarning")


@pytest.fixture(scope="module")
def net():
    return rateconv.convert(conv_net(), scale_firing_rates=50, synapse=0.005)


@pytest.fixture(scope="module")
def two_input_net():
    a = keras.Input((4,), name="left")
    b = keras.Input((3,), name="right")
    h = keras.layers.Concatenate()(
        [
            keras.layers.Dense(6, activation="relu", bias_initializer="ones")(a),
            keras.layers.Dense(6, bias_initializer="ones")(b),
        ]
    )
    keras.utils.set_random_seed(3)
    model = keras.Model([a, b], keras.layers.Dense(4)(keras.layers.ReLU()(h)))
    return rateconv.convert(model, scale_firing_rates=50)


def two_inputs(n=9):
    rng = np.random.default_rng(4)
    return rng.uniform(size=(n, 4)).astype("f4"), rng.uniform(size=(n, 3)).astype("f4")


def test_dict_keyed_by_input_name_equals_list(two_input_net):
    left, right = two_inputs()
    sim = rateconv.Simulator(two_input_net)
    by_list = sim.predict([left, right], n_steps=40)
    # the order of the keys does not matter, the names do
    by_name = sim.predict({"right": right, "left": left}, n_steps=40)
    np.testing.assert_array_equal(by_name, by_list)
    assert np.abs(by_list).max() > 0


def test_dict_with_wrong_names_says_which(two_input_net):
    left, right = two_inputs()
    with pytest.raises(ValueError, match=r"unknown: \['rihgt'\].*missing: \['right'\]"):
        rateconv.Simulator(two_input_net).predict({"left": left, "rihgt": right})


@pytest.mark.parametrize("form", ["dataset", "generator", "list_of_batches"])
def test_streams_equal_arrays(net, form):
    x = images(11)
    y = np.arange(11) % 5
    sim = rateconv.Simulator(net, minibatch_size=4)
    ref = sim.evaluate(x, y, n_steps=12, return_outputs=True)

    def batches():  # batches of 3 do not line up with minibatches of 4
        for i in range(0, 11, 3):
            yield x[i : i + 3], y[i : i + 3]

    stream = {
        "dataset": tf.data.Dataset.from_tensor_slices((x, y)).batch(3),
        "generator": batches(),
        "list_of_batches": iter(list(batches())),
    }[form]
    got = sim.evaluate(stream, n_steps=12, return_outputs=True)
    assert got.n_samples == 11
    np.testing.assert_array_equal(got.outputs, ref.outputs)
    np.testing.assert_array_equal(got.errors, ref.errors)
    for name, layer in ref.activity.items():
        assert got.activity[name].spike_count == layer.spike_count

    # predict takes x-only batches as well
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(5)
    np.testing.assert_array_equal(sim.predict(dataset, n_steps=12), ref.outputs)


def test_streams_are_read_lazily(net):
    """A minibatch runs after the batches it needs, not the whole stream."""
    pulled = []

    def batches():
        for i in range(100):
            pulled.append(i)
            yield images(2, seed=i)

    source = as_source(net, batches())
    minibatches = source.minibatches(4)
    first = next(minibatches)
    assert first.n_valid == 4 and len(pulled) <= 3


def test_stream_errors_name_the_batch(net):
    x = images(6)

    def bad_labels():
        yield x[:3], np.array([0, 1, 2])
        yield x[3:], np.array([0, 1, 7])  # 5 classes

    with pytest.raises(ValueError, match=r"\[0, 5\).*values \[7\]"):
        rateconv.Simulator(net).evaluate(bad_labels(), n_steps=3)

    with pytest.raises(ValueError, match="no labels"):
        rateconv.Simulator(net).evaluate(iter([x]), n_steps=3)

    def bad_shape():
        yield x[:3]
        yield np.zeros((3, 7, 7, 1), "f4")

    with pytest.raises(ValueError, match=r"batch 1 of x.*\(n_samples, 8, 8, 1\)"):
        rateconv.Simulator(net).predict(bad_shape(), n_steps=3)

    nan = x.copy()
    nan[1, 2, 3, 0] = np.nan
    with pytest.raises(ValueError, match="batch 0 of x.*NaN"):
        rateconv.Simulator(net).predict(iter([nan]), n_steps=3)
    with pytest.raises(ValueError, match="y must be None"):
        rateconv.Simulator(net).evaluate(iter([x]), np.zeros(6), n_steps=3)


@pytest.mark.parametrize("engine", ["time_batched", "step"])
@pytest.mark.parametrize("encoding", ["constant", "poisson"])
def test_tiled_constant_input_equals_constant_path(engine, encoding):
    # uniform initial voltages: the random streams must line up too
    net = rateconv.convert(conv_net(), scale_firing_rates=50, initial_state="uniform")
    x = images(5)
    sim = rateconv.Simulator(net, engine=engine, minibatch_size=3)
    ref = sim.predict(x, n_steps=9, input_encoding=encoding, seed=2)
    tiled = np.repeat(x[:, None], 9, axis=1)
    got = sim.predict(tiled, input_encoding=encoding, seed=2)  # n_steps from x
    assert got.shape == ref.shape == (5, 9, 5)
    np.testing.assert_array_equal(got, ref)


def test_time_varying_input_reaches_each_step(net):
    """Engines agree on an input that changes every step, and step t sees x[:, t]."""
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(4, 40, 8, 8, 1)).astype("f4")
    # small chunks: chunk boundaries fall inside the input sequence
    fast = rateconv.Simulator(net, max_chunk_elements=2000)
    a = fast.predict(x)
    b = rateconv.Simulator(net, engine="step").predict(x)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # the same images, then blank from step 20: equal up to step 20 (the run
    # is causal), different after
    steady = fast.predict(x[:, 0], n_steps=40)
    x[:] = x[:, :1]
    x[:, 20:] = 0
    switched = fast.predict(x)
    np.testing.assert_array_equal(switched[:, :20], steady[:, :20])
    assert np.abs(switched[:, 25:] - steady[:, 25:]).max() > 1e-3


def test_time_varying_input_errors(net):
    x = np.zeros((3, 6, 8, 8, 1), "f4")
    with pytest.raises(ValueError, match="n_steps=10 but .* hold 6 steps"):
        rateconv.Simulator(net).predict(x, n_steps=10)
    with pytest.raises(ValueError, match="rate mode has no time"):
        rateconv.Simulator(net).predict(x, mode="rate")
    with pytest.raises(ValueError, match=r"n_steps, 8, 8, 1\) for an input"):
        rateconv.Simulator(net).predict(np.zeros((3, 6, 8, 8), "f4"))


def test_progress_bar_is_labelled(net, capsys):
    sim = rateconv.Simulator(net, minibatch_size=2, progress=True)
    sim.predict(images(5), n_steps=4)
    err = capsys.readouterr().err
    assert "spiking, 4 steps" in err and "5/5" in err and "image" in err
    quiet = rateconv.Simulator(net, minibatch_size=2, progress=False)
    quiet.predict(images(5), n_steps=4)
    assert capsys.readouterr().err == ""
