"""Spiking-aware fine-tuning: spikes forward, rate gradient backward."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import rateconv

N_STEPS = 12


def activation(kind):
    if kind == "softlif":
        return rateconv.SoftLIF(sigma=0.05, amplitude=0.01, max_rate=200)
    if kind == "relu":
        return keras.layers.ReLU()
    if kind == "activation":
        return keras.layers.Activation("relu")
    return rateconv.QuantizedReLU(levels=4, threshold=0.8)


SCALES = {"softlif": 1.0, "relu": 300.0, "activation": 300.0, "qcfs": 1.0}


def pair(kind, n_steps=N_STEPS):
    """The same one-layer network with and without the wrapper."""
    models = []
    for wrap in (False, True):
        keras.utils.set_random_seed(0)
        act = activation(kind)
        if wrap:
            act = rateconv.SpikingAware(
                act, n_steps=n_steps, scale_firing_rates=SCALES[kind], name="act"
            )
        models.append(
            keras.Sequential(
                [
                    keras.Input((4,)),
                    keras.layers.Dense(
                        16, bias_initializer=keras.initializers.Constant(0.2)
                    ),
                    act,
                ]
            )
        )
    return models


def inputs(n=8, seed=1):
    return np.random.default_rng(seed).uniform(-1, 1, size=(n, 4)).astype(np.float32)


@pytest.mark.parametrize("kind", ["softlif", "relu", "activation", "qcfs"])
def test_forward_equals_simulated_spike_mean(kind):
    plain, aware = pair(kind)
    x = inputs()
    net = rateconv.convert(plain, scale_firing_rates=SCALES[kind])
    spikes = rateconv.Simulator(net, progress=False).predict(
        x, n_steps=N_STEPS, probe_synapse=None
    )
    expected = spikes.mean(axis=1)
    actual = aware.predict(x, verbose=0)
    assert np.abs(expected).max() > 0
    # the rate output is not what the spikes transmit in so few steps
    assert not np.allclose(plain.predict(x, verbose=0), expected, atol=1e-3)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["softlif", "relu", "qcfs"])
def test_gradient_is_the_rate_gradient(kind):
    plain, aware = pair(kind)
    x = tf.constant(inputs())
    grads = []
    for model in (plain, aware):
        with tf.GradientTape() as tape:
            y = model(x)
            loss = tf.reduce_sum(y * tf.range(16, dtype=y.dtype))
        grads.append(tape.gradient(loss, model.trainable_weights))
    assert len(grads[0]) == len(grads[1])
    for g0, g1 in zip(*grads):
        assert np.all(np.isfinite(g1.numpy()))
        np.testing.assert_allclose(g1.numpy(), g0.numpy(), rtol=1e-6, atol=1e-7)
    if kind == "qcfs":  # the threshold is trained through the wrapper too
        assert aware.trainable_weights[-1].name == "threshold"
        assert float(grads[1][-1]) != 0


@pytest.mark.parametrize("kind", ["softlif", "qcfs"])
def test_conversion_ignores_the_wrapper(kind):
    plain, aware = pair(kind)
    a, b = rateconv.convert(plain), rateconv.convert(aware)
    assert len(a.neuron_stages) == len(b.neuron_stages) == 1
    sa, sb = a.neuron_stages[0], b.neuron_stages[0]
    assert sa.spiking_neuron == sb.spiking_neuron
    assert sa.rate_neuron == sb.rate_neuron
    assert sa.initial_state == sb.initial_state
    x = inputs()
    for mode in ("rate", "spiking"):
        np.testing.assert_array_equal(
            rateconv.Simulator(a, progress=False).predict(x, mode=mode, n_steps=5),
            rateconv.Simulator(b, progress=False).predict(x, mode=mode, n_steps=5),
        )
    # swap_activations may name the wrapper
    lif = rateconv.LIF()
    swapped = rateconv.convert(aware, swap_activations={"act": lif})
    assert swapped.neuron_stages[0].spiking_neuron == lif


def test_qcfs_at_levels_steps_equals_the_layer():
    """QCFS spikes in L steps from half threshold are the quantized value."""
    plain, aware = pair("qcfs", n_steps=4)
    x = inputs()
    np.testing.assert_allclose(
        aware.predict(x, verbose=0), plain.predict(x, verbose=0), atol=1e-6
    )


def test_fine_tuning_trains_and_round_trips(tmp_path):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int32)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(16),
            rateconv.SpikingAware(
                rateconv.SoftLIF(sigma=0.1, amplitude=0.01, max_rate=200), n_steps=10
            ),
            keras.layers.Dense(2),
        ]
    )
    model.compile(
        keras.optimizers.Adam(0.02),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    losses = model.fit(x, y, epochs=15, batch_size=32, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.7 * losses[0]
    path = tmp_path / "sa.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(
        model.predict(x[:16], verbose=0), loaded.predict(x[:16], verbose=0)
    )
    layer = loaded.layers[1]
    assert isinstance(layer, rateconv.SpikingAware) and layer.n_steps == 10
    assert isinstance(layer.layer, rateconv.SoftLIF)


def test_initial_state_option():
    plain, _ = pair("relu")
    x = inputs()
    keras.utils.set_random_seed(0)
    aware = keras.Sequential(
        [
            keras.Input((4,)),
            plain.layers[0],
            rateconv.SpikingAware(
                keras.layers.ReLU(),
                n_steps=N_STEPS,
                scale_firing_rates=300.0,
                initial_state="half",
            ),
        ]
    )
    net = rateconv.convert(plain, scale_firing_rates=300.0, initial_state="half")
    spikes = rateconv.Simulator(net, progress=False).predict(
        x, n_steps=N_STEPS, probe_synapse=None
    )
    np.testing.assert_allclose(
        aware.predict(x, verbose=0), spikes.mean(axis=1), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize(
    "layer, kwargs, error, match",
    [
        (keras.layers.Dense(3), {}, TypeError, "activation layer"),
        (keras.layers.Activation("tanh"), {}, ValueError, "tanh"),
        (keras.layers.ReLU(), {"n_steps": 0}, ValueError, "n_steps"),
        (keras.layers.ReLU(), {"initial_state": "uniform"}, ValueError, "initial"),
        (keras.layers.ReLU(), {"scale_firing_rates": -1}, ValueError, "scale"),
    ],
)
def test_invalid_arguments(layer, kwargs, error, match):
    with pytest.raises(error, match=match):
        rateconv.SpikingAware(layer, **kwargs)
