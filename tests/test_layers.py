import keras
import numpy as np
import pytest
import tensorflow as tf

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


def _soft_lif_float64(j, sigma, amplitude, tau_rc=0.02, tau_ref=0.002):
    p = sigma * np.logaddexp(0.0, (j - 1) / sigma)
    return amplitude / (tau_ref + tau_rc * np.log1p(1 / p))


@pytest.mark.parametrize("sigma", [0.02, 0.3])
def test_fused_layer_matches_soft_lif_rate_and_its_derivative(sigma):

    layer = rateconv.SoftLIF(sigma=sigma, amplitude=0.01, max_rate=100)
    x64 = np.linspace(-0.5, 6, 3001)
    x = tf.constant(x64.astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        fused = layer(x)
    reference = neurons.soft_lif_rate(
        layer.neuron.current(x), sigma=sigma, amplitude=0.01
    )
    np.testing.assert_allclose(fused, reference, rtol=1e-5, atol=1e-9)
    # the slope against a float64 central difference of the same curve
    gain, bias = layer.neuron.gain, layer.neuron.bias
    h = 1e-6
    numeric = (
        _soft_lif_float64(gain * (x64 + h) + bias, sigma, 0.01)
        - _soft_lif_float64(gain * (x64 - h) + bias, sigma, 0.01)
    ) / (2 * h)
    slope = tape.gradient(fused, x).numpy()
    np.testing.assert_allclose(slope, numeric, rtol=2e-3, atol=1e-6)


@pytest.mark.parametrize("sigma", [1e-3, 0.02, 1.0])
def test_fused_layer_is_finite_everywhere(sigma):

    layer = rateconv.SoftLIF(sigma=sigma)
    x = tf.constant(np.linspace(-1e4, 1e4, 200001, dtype=np.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
    g = tape.gradient(y, x).numpy()
    assert np.all(np.isfinite(y)) and np.all(y > 0)
    assert np.all(np.isfinite(g)) and np.all(g >= 0)


def test_soft_lif_slope_is_the_derivative_of_the_one_formula():
    j = tf.constant(np.linspace(-3, 6, 301).astype(np.float32))
    kwargs = dict(sigma=0.1, amplitude=0.01, tau_ref=0.001)
    with tf.GradientTape() as tape:
        tape.watch(j)
        rate = neurons.soft_lif_rate(j, **kwargs)
    grad = tape.gradient(rate, j)
    both, slope = neurons.soft_lif_rate_and_slope(j, **kwargs)
    np.testing.assert_array_equal(both, rate)
    np.testing.assert_allclose(slope, grad, rtol=1e-4, atol=1e-7)
