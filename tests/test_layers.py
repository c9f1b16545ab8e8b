import keras
import numpy as np
import pytest

import rateconv
from rateconv import neurons


def small_model(**softlif_kwargs):
    return keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16),
            rateconv.SoftLIF(**softlif_kwargs),
            keras.layers.Dense(2),
        ]
    )


def toy_data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int32)
    return x, y


def test_softlif_matches_rate_function():
    layer = rateconv.SoftLIF(sigma=0.05, amplitude=0.01, max_rate=100, intercept=0)
    x = np.linspace(-2, 2, 101).astype(np.float32)
    gain, bias = neurons.lif_gain_bias(100, 0)
    expected = neurons.soft_lif_rate(gain * x + bias, sigma=0.05, amplitude=0.01)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-6)
    # ~100 Hz * 0.01 at x = 1
    assert float(layer(np.float32([1.0]))[0]) == pytest.approx(1.0, rel=0.01)


def test_model_with_softlif_trains():
    keras.utils.set_random_seed(0)
    x, y = toy_data()
    model = small_model(sigma=0.1, amplitude=0.05)
    model.compile(
        keras.optimizers.Adam(0.01),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    hist = model.fit(x, y, epochs=20, batch_size=32, verbose=0)
    losses = hist.history["loss"]
    assert losses[-1] < 0.6 * losses[0]
    assert np.all(np.isfinite(losses))


def test_keras_round_trip(tmp_path):
    x, _ = toy_data(32)
    model = small_model(sigma=0.03, amplitude=0.01, max_rate=120, intercept=-0.2)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)  # no custom_objects needed
    np.testing.assert_array_equal(
        model.predict(x, verbose=0), loaded.predict(x, verbose=0)
    )
    layer = loaded.layers[1]
    assert isinstance(layer, rateconv.SoftLIF)
    assert (layer.sigma, layer.max_rate, layer.intercept) == (0.03, 120, -0.2)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"sigma": 0}, "sigma"),
        ({"tau_rc": -0.01}, "tau_rc"),
        ({"max_rate": 500}, "max_rate"),
        ({"max_rate": 100, "intercept": 1.5}, "intercept"),
        ({"intercept": 0.1}, "intercept"),
        ({"amplitude": -1}, "amplitude"),
    ],
)
def test_softlif_invalid_parameters(kwargs, name):
    with pytest.raises(ValueError, match=name):
        rateconv.SoftLIF(**kwargs)
