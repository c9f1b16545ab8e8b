"""Population-coded outputs: `rateconv.PopulationPooling` in training and readout."""

import keras
import numpy as np
import pytest

import rateconv
from rateconv.metrics import class_scores


def population_model(k=4, seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(16, bias_initializer="ones"),
            rateconv.SoftLIF(amplitude=0.01, max_rate=200, name="hidden"),
            keras.layers.Dense(3 * k, bias_initializer="ones"),
            rateconv.SoftLIF(amplitude=0.01, max_rate=200, name="population"),
            rateconv.PopulationPooling(k, name="pool"),
        ]
    )


def test_pooling_sums_contiguous_groups_as_the_readout_does():
    layer = rateconv.PopulationPooling(4)
    x = np.random.default_rng(0).uniform(size=(5, 12)).astype("f4")
    got = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(got, class_scores(x, 4), rtol=1e-6)
    np.testing.assert_allclose(got[:, 1], x[:, 4:8].sum(axis=1), rtol=1e-6)
    assert layer.compute_output_shape((None, 12)) == (None, 3)


def test_pooling_saves_and_checks(tmp_path):
    model = population_model()
    x = np.random.default_rng(1).uniform(size=(4, 6)).astype("f4")
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0)
    )
    with pytest.raises(ValueError, match="multiple of population_size=5"):
        rateconv.PopulationPooling(5)(np.zeros((2, 12), "f4"))
    with pytest.raises(ValueError, match="population_size must be"):
        rateconv.PopulationPooling(0)


def test_converted_pooling_agrees_with_the_population_readout():
    model = population_model()
    x = np.random.default_rng(2).uniform(size=(40, 6)).astype("f4")
    y = np.random.default_rng(3).integers(0, 3, size=40)
    rateconv.Converter(model).verify(x)  # rate mode == model.predict
    pooled = rateconv.Simulator(rateconv.convert(model))
    # the same network without the pooling, read with population_size=4
    bare = keras.Model(model.inputs, model.get_layer("population").output)
    population = rateconv.Simulator(rateconv.convert(bare))
    assert population.network[population.network.outputs[0]].output_shape == (12,)
    a = pooled.evaluate(x, y, mode="rate")
    b = population.evaluate(x, y, mode="rate", population_size=4)
    assert a.error == b.error
    # spiking: the pooled output is the population's spikes summed per class
    out = pooled.predict(x, n_steps=30, probe_synapse=None)
    spikes = population.predict(x, n_steps=30, probe_synapse=None)
    scores = class_scores(spikes, 4)
    np.testing.assert_allclose(out, scores, rtol=1e-5, atol=1e-4)
    # so the classes agree wherever the count does not tie (spikes are 10 each)
    counts = np.sort(scores.cumsum(axis=1), axis=-1)
    clear = counts[..., -1] - counts[..., -2] > 1
    assert clear.mean() > 0.5
    np.testing.assert_array_equal(
        out.cumsum(axis=1).argmax(-1)[clear], scores.cumsum(axis=1).argmax(-1)[clear]
    )
