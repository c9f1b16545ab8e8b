"""Spiking-aware fine-tuning: spikes forward, rate gradient backward."""

import math

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


def test_uniform_start_is_training_noise_around_the_rate():
    """A random start rounds each count up or down; inference gives the rate."""
    plain, _ = pair("relu")
    dense = plain.layers[0]
    aware = keras.Sequential(
        [
            keras.Input((4,)),
            dense,
            rateconv.SpikingAware(
                keras.layers.ReLU(),
                n_steps=N_STEPS,
                scale_firing_rates=300.0,
                initial_state="uniform",
                seed=3,
            ),
        ]
    )
    x = tf.constant(inputs())
    rate = plain(x).numpy()
    # outside training: exactly the wrapped layer
    np.testing.assert_array_equal(aware(x, training=False).numpy(), rate)
    np.testing.assert_array_equal(aware.predict(x, verbose=0), rate)
    draws = np.stack([aware(x, training=True).numpy() for _ in range(400)])
    # each draw is a spike count over N_STEPS: a multiple of the count's unit
    unit = 1.0 / (300.0 * N_STEPS * rateconv.neurons.DT)
    counts = draws / unit
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-3)
    # the draws differ, and the count is the rate's count rounded down or up
    assert np.ptp(draws, axis=0).max() > 0
    assert np.all(np.abs(draws - rate) <= unit + 1e-6)
    # a uniform start is unbiased for integrate-and-fire: the mean is the rate
    np.testing.assert_allclose(draws.mean(axis=0), rate, atol=0.1 * unit + 1e-6)
    # the gradient is still the rate gradient
    grads = []
    for model, kw in ((plain, {}), (aware, {"training": True})):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(model(x, **kw) * tf.range(16, dtype=tf.float32))
        grads.append(tape.gradient(loss, model.trainable_weights))
    for g0, g1 in zip(*grads):
        np.testing.assert_allclose(g1.numpy(), g0.numpy(), rtol=1e-6, atol=1e-7)


def test_uniform_start_round_trips(tmp_path):
    layer = rateconv.SpikingAware(
        rateconv.SoftLIF(), n_steps=10, initial_state="uniform", seed=5
    )
    model = keras.Sequential([keras.Input((4,)), layer])
    model.save(tmp_path / "u.keras")
    loaded = keras.models.load_model(tmp_path / "u.keras").layers[0]
    assert (loaded.initial_state, loaded.seed, loaded.n_steps) == ("uniform", 5, 10)


@pytest.mark.parametrize(
    "layer, kwargs, error, match",
    [
        (keras.layers.Dense(3), {}, TypeError, "activation layer"),
        (keras.layers.Activation("tanh"), {}, ValueError, "tanh"),
        (keras.layers.ReLU(), {"n_steps": 0}, ValueError, "n_steps"),
        (keras.layers.ReLU(), {"dt": math.inf}, ValueError, "dt"),
        (keras.layers.ReLU(), {"dt": 0}, ValueError, "dt"),
        (keras.layers.ReLU(), {"initial_state": "random"}, ValueError, "initial"),
        (keras.layers.ReLU(), {"scale_firing_rates": -1}, ValueError, "scale"),
    ],
)
def test_invalid_arguments(layer, kwargs, error, match):
    with pytest.raises(error, match=match):
        rateconv.SpikingAware(layer, **kwargs)


def reference_like():
    keras.utils.set_random_seed(0)
    inp = keras.Input((6, 6, 1))
    x = keras.layers.Conv2D(4, 3, name="conv")(inp)
    x = rateconv.SoftLIF(sigma=0.05, amplitude=0.01, max_rate=200, name="lif")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(8, name="hidden")(x)
    x = keras.layers.ReLU(name="relu")(x)
    out = keras.layers.Dense(3, activation="relu", name="out")(x)
    return keras.Model(inp, out)


def test_spiking_aware_model_wraps_activation_layers_and_strips_back():
    model = reference_like()
    x = np.random.default_rng(0).uniform(size=(5, 6, 6, 1)).astype(np.float32)
    aware = rateconv.spiking_aware_model(
        model, n_steps=7, scale_firing_rates=4.0, initial_state="half"
    )
    wrappers = [la for la in aware.layers if isinstance(la, rateconv.SpikingAware)]
    # the stand-alone activations, under their own names; activation= stays
    assert sorted(la.name for la in wrappers) == ["lif", "relu"]
    assert all(la.n_steps == 7 and la.scale_firing_rates == 4.0 for la in wrappers)
    assert not isinstance(aware.get_layer("out"), rateconv.SpikingAware)
    # weights copied, not shared: training the copy leaves the model alone
    for layer in model.layers[1:]:
        weights = aware.get_layer(layer.name).get_weights()
        assert len(weights) == len(layer.get_weights())
        for w0, w1 in zip(layer.get_weights(), weights):
            np.testing.assert_array_equal(w0, w1)
    before = model.get_layer("conv").get_weights()[0].copy()
    aware.get_layer("conv").kernel.assign(before + 1)
    np.testing.assert_array_equal(model.get_layer("conv").get_weights()[0], before)
    aware.get_layer("conv").kernel.assign(before)
    # the forward pass is the spiking one
    assert not np.allclose(aware.predict(x, verbose=0), model.predict(x, verbose=0))
    # the same spiking network either way, and stripping gives the model back
    plain = rateconv.remove_spiking_aware(aware)
    assert not any(isinstance(la, rateconv.SpikingAware) for la in plain.layers)
    assert [la.name for la in plain.layers[1:]] == [la.name for la in model.layers[1:]]
    np.testing.assert_array_equal(
        plain.predict(x, verbose=0), model.predict(x, verbose=0)
    )
    runs = [
        rateconv.Simulator(
            rateconv.convert(m), progress=False, warn_activity=False
        ).predict(x, n_steps=5)
        for m in (model, aware, plain)
    ]
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[0], runs[2])


def test_spiking_aware_model_needs_an_activation_layer():
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(2, activation="relu")]
    )
    with pytest.raises(ValueError, match="no stand-alone activation layer"):
        rateconv.spiking_aware_model(model, n_steps=5)
    for fn in (rateconv.spiking_aware_model, rateconv.remove_spiking_aware):
        args = (5,) if fn is rateconv.spiking_aware_model else ()
        with pytest.raises(TypeError, match="Sequential or functional model"):
            fn("model.keras", *args)


def test_a_model_compiled_with_a_custom_loss_copies_uncompiled():
    """Keras would recompile the copy from the compile config, which fails on
    an unregistered loss; the copy comes uncompiled and the model stays as is."""

    def my_loss(y, p):
        return keras.ops.mean((y - p) ** 2)

    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3), rateconv.SoftLIF(name="lif")]
    )
    model.compile("sgd", loss=my_loss)
    copy = rateconv.spiking_aware_model(model, n_steps=3)
    assert model.compiled and not copy.compiled
    stripped = rateconv.remove_spiking_aware(copy)
    x = np.ones((2, 4), np.float32)
    np.testing.assert_allclose(
        stripped.predict(x, verbose=0), model.predict(x, verbose=0)
    )
    copy.compile("sgd", loss=my_loss)
    copy.fit(x, np.zeros((2, 3)), verbose=0)


def test_swap_naming_the_wrapper_reaches_the_wrapped_layer():
    inp = keras.Input((4,))
    out = rateconv.SpikingAware(rateconv.SoftLIF(), n_steps=3, name="act")(inp)
    model = keras.Model(inp, out)
    net = rateconv.convert(model, swap_activations={"act": rateconv.LIF(tau_rc=0.05)})
    assert net["act"].spiking_neuron == rateconv.LIF(tau_rc=0.05)
    with pytest.raises(TypeError, match="act"):
        rateconv.convert(model, swap_activations={"act": "relu"})
    # a misspelled wrapper name is an error listing the names that work
    with pytest.raises(ValueError, match=r"\['actt'\] match no layer.*'act'"):
        rateconv.convert(model, swap_activations={"actt": rateconv.LIF()})
