"""QCFS activation (Bu et al. 2022): layer, neurons, converter."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import rateconv
from rateconv.neurons import qcfs, qcfs_step
from rateconv.zoo.models import reference_network


def qcfs_numpy(x, levels, threshold):
    """The paper's formula, transcribed independently."""
    x = np.asarray(x, np.float64)
    q = np.clip(np.floor(x * levels / threshold + 0.5) / levels, 0, 1)
    return threshold * q


def toy_data(n=128, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    y = (x[:, 0] - x[:, 2] > 0).astype(np.int32)
    return x, y


def mlp(levels=4, threshold=1.0, seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(12),
            rateconv.QuantizedReLU(levels=levels, threshold=threshold, name="q"),
            keras.layers.Dense(2),
        ]
    )


def conv_net(levels=4, seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, bias_initializer="ones"),
            rateconv.QuantizedReLU(levels=levels, threshold=1.5, name="q1"),
            keras.layers.AveragePooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(10, bias_initializer=keras.initializers.Constant(0.3)),
            rateconv.QuantizedReLU(levels=levels, threshold=0.7, name="q2"),
            keras.layers.Dense(3),
        ]
    )


def images(n=6, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, 8, 8, 1)).astype(np.float32)


@pytest.mark.parametrize("levels, threshold", [(1, 1.0), (4, 0.7), (8, 2.5)])
def test_forward_matches_numpy(levels, threshold):
    x = np.random.default_rng(levels).normal(scale=2, size=1000).astype(np.float32)
    layer = rateconv.QuantizedReLU(levels=levels, threshold=threshold)
    y = np.asarray(layer(x))
    np.testing.assert_allclose(y, qcfs_numpy(x, levels, threshold), rtol=1e-6)
    # the outputs are the L + 1 levels
    assert set(np.round(y * levels / threshold, 4)) <= set(range(levels + 1))


def test_straight_through_gradients():
    levels, lam = 4, 1.5
    # off the clip boundaries 0 and lambda, where the gradient is a convention
    x = tf.constant((np.linspace(-1, 2.5, 36) + 0.013).astype(np.float32))
    threshold = tf.Variable(lam)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = qcfs(x, levels=levels, threshold=threshold)
    dx = tape.gradient(y, x).numpy()
    dlam = tape.gradient(y, threshold, output_gradients=tf.ones_like(y))
    xn = x.numpy()
    inside = (xn > 0) & (xn < lam)
    # d/dx: 1 inside (0, lambda), 0 outside
    np.testing.assert_array_equal(dx, inside.astype(np.float32))
    # d/dlambda: the quantization residual inside, 1 above, 0 below
    h = qcfs_numpy(xn, levels, lam)
    expected = np.where(inside, h / lam - xn / lam, np.where(xn >= lam, 1.0, 0.0))
    assert float(dlam) == pytest.approx(expected.sum(), abs=1e-4)
    # per element, for a saturated input the threshold gets gradient 1
    with tf.GradientTape() as tape:
        y = qcfs(tf.constant([5.0]), levels=levels, threshold=threshold)
    assert float(tape.gradient(y, threshold)) == pytest.approx(1.0)


def test_gradients_finite_at_extremes():
    x = tf.constant([-1e30, -1.0, 0.0, 1e-30, 1.0, 1e30], tf.float32)
    layer = rateconv.QuantizedReLU(levels=8)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
    grads = tape.gradient(y, [x, layer.threshold])
    assert np.all(np.isfinite(y.numpy()))
    assert all(np.all(np.isfinite(g.numpy())) for g in grads)


def test_trains_and_learns_threshold():
    x, y = toy_data()
    model = mlp(levels=4)
    model.compile(
        keras.optimizers.Adam(0.02),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    losses = model.fit(x, y, epochs=15, batch_size=32, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.6 * losses[0]
    threshold = float(model.get_layer("q").threshold.numpy())
    assert threshold != 1.0 and threshold > 0


def test_keras_round_trip(tmp_path):
    x, _ = toy_data(16)
    model = mlp(levels=5, threshold=0.9)
    model.get_layer("q").threshold.assign(1.3)  # as if trained
    path = tmp_path / "q.keras"
    model.save(path)
    loaded = keras.models.load_model(path)  # no custom_objects needed
    np.testing.assert_array_equal(
        model.predict(x, verbose=0), loaded.predict(x, verbose=0)
    )
    layer = loaded.get_layer("q")
    assert isinstance(layer, rateconv.QuantizedReLU)
    assert layer.levels == 5 and float(layer.threshold.numpy()) == pytest.approx(1.3)


def test_rate_mode_equals_predict_exactly():
    model = conv_net(levels=4)
    net = rateconv.convert(model)
    assert [type(s.spiking_neuron) for s in net.neuron_stages] == [
        rateconv.SpikingQuantizedReLU
    ] * 2
    assert [s.initial_state for s in net.neuron_stages] == ["half", "half"]
    x = images()
    expected = model.predict(x, verbose=0)
    assert np.abs(expected).max() > 0
    actual = rateconv.Simulator(net, progress=False).predict(x, mode="rate")
    np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize("levels, threshold", [(4, 1.0), (8, 0.6)])
def test_spiking_over_levels_steps_equals_quantized(levels, threshold):
    """One layer: the spike count in L steps is the QCFS level."""
    keras.utils.set_random_seed(levels)
    model = keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(40, bias_initializer="random_normal"),
            rateconv.QuantizedReLU(levels=levels, threshold=threshold),
        ]
    )
    x = np.random.default_rng(0).normal(size=(8, 5)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    sim = rateconv.Simulator(rateconv.convert(model), progress=False)
    spikes = sim.predict(x, n_steps=levels, probe_synapse=None)
    # one spike per step at most, each worth threshold
    assert set(np.unique(np.round(spikes / threshold, 4))) <= {0.0, 1.0}
    np.testing.assert_allclose(spikes.mean(axis=1), expected, atol=1e-5)
    assert 0 < np.count_nonzero(expected) < expected.size


def test_spiking_converges_to_clipped_relu_over_long_runs():
    neuron = rateconv.SpikingQuantizedReLU(levels=4, threshold=2.0)
    j = np.array([-1.0, 0.3, 0.9, 1.7, 2.0, 5.0], np.float32)
    v = np.full_like(j, 0.5)
    total = np.zeros_like(j)
    for _ in range(1000):
        out, (v,) = neuron.step(j, (v,))
        total += np.asarray(out)
    np.testing.assert_allclose(total / 1000, np.clip(j, 0, 2.0), atol=2e-3)


def test_step_at_other_dt_keeps_rates_in_hz():
    j = np.array([0.25, 0.5], np.float32)
    v = np.zeros_like(j)
    total = np.zeros_like(j)
    for _ in range(2000):  # 1 s at dt = 0.5 ms
        out, v = qcfs_step(j, v, threshold=1.0, dt=0.0005)
        total += np.asarray(out)
    np.testing.assert_allclose(total / 2000, j, atol=1e-3)


def test_convert_options_apply():
    model = conv_net()
    net = rateconv.convert(model, initial_state="zero", reset="zero")
    for stage in net.neuron_stages:
        assert stage.initial_state == "zero"
        assert stage.spiking_neuron.reset == "zero"
    lif = rateconv.LIF()
    swapped = rateconv.convert(model, swap_activations={"q1": lif})
    assert swapped["q1"].spiking_neuron == lif
    assert swapped["q1"].initial_state == "zero"
    assert isinstance(swapped["q2"].spiking_neuron, rateconv.SpikingQuantizedReLU)


def test_neuron_types():
    rate = rateconv.QuantizedReLURate(levels=3, threshold=2.0)
    assert rate.amplitude == pytest.approx(2.0 * rateconv.DT)
    spiking = rate.as_spiking()
    assert isinstance(spiking, rateconv.SpikingQuantizedReLU)
    assert spiking.as_rate() == rate
    x = np.array([0.4, 1.0, 3.0], np.float32)
    np.testing.assert_allclose(rate.rate(x), qcfs_numpy(x, 3, 2.0), rtol=1e-6)
    scaled = rate.scaled(2.0)  # input x 2, output / 2
    np.testing.assert_allclose(scaled.rate(x), qcfs_numpy(2 * x, 3, 2.0) / 2, rtol=1e-6)


def test_reference_network_qcfs():
    model = reference_network(activation="qcfs", levels=6)
    layers = [la for la in model.layers if isinstance(la, rateconv.QuantizedReLU)]
    assert [la.levels for la in layers] == [6, 6, 6]
    net = rateconv.convert(model)
    assert len(net.neuron_stages) == 3
    with pytest.raises(ValueError, match="qcfs"):
        reference_network(activation="tanh")


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"levels": 0}, "levels"),
        ({"levels": 2.5}, "levels"),
        ({"threshold": 0}, "threshold"),
    ],
)
def test_invalid_parameters(kwargs, name):
    with pytest.raises(ValueError, match=name):
        rateconv.QuantizedReLU(**kwargs)


def test_neuron_of_unbuilt_layer_is_an_error():
    with pytest.raises(ValueError, match="not built"):
        _ = rateconv.QuantizedReLU().neuron


def test_old_module_paths_keep_working():
    import rateconv.models
    import rateconv.pretrained
    import rateconv.spiking_aware

    from rateconv import calibration, nir_export, nir_import, regularizers

    assert rateconv.models.reference_network is rateconv.zoo.models.reference_network
    assert rateconv.pretrained.load_pretrained is rateconv.load_pretrained
    assert rateconv.spiking_aware.SpikingAware is rateconv.SpikingAware
    assert calibration.calibrate is rateconv.calibrate
    assert nir_export.export_nir is nir_import.export_nir is rateconv.export_nir
    assert regularizers.FiringRateRegularizer is rateconv.FiringRateRegularizer


def test_swap_activations_overrides_the_qcfs_converter():
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4), rateconv.QuantizedReLU(name="q")]
    )
    swapped = rateconv.convert(
        model, swap_activations={"quantized_relu": rateconv.SpikingRectifiedLinear()}
    )["q"]
    assert swapped.spiking_neuron == rateconv.SpikingRectifiedLinear()
    assert swapped.initial_state == "zero"  # half is for the QCFS neurons only
    assert rateconv.convert(model)["q"].initial_state == "half"
