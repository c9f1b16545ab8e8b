"""Training for a step budget: the step model is the converted network's spikes."""

import runpy
from pathlib import Path

import keras
import numpy as np
import pytest

import rateconv
from rateconv import datasets
from rateconv.layers import (
    MeanOverSteps,
    RepeatSteps,
    StepIF,
    StepLIF,
    step_model,
    train_for_steps,
)

L = keras.layers


def spiking_output(model, x, n_steps):
    """The converted network's mean output after ``n_steps`` steps."""
    # the one call, no options: a step model reads out its unfiltered mean
    net = rateconv.convert(model)
    assert net.readout == "mean" and net.probe_synapse is None
    assert net.max_spikes_per_step == 1  # binary spikes, no option needed
    sim = rateconv.Simulator(net, precision="float32", progress=False)
    return sim.predict(x, n_steps=n_steps)[:, -1]


def images(n=200, seed=0):
    x, y = datasets.load_fashion_mnist_sample()
    return (x[:n] / 255.0).astype("float32")[..., None], y[:n].astype("int32")


def if_reference(currents, threshold):
    """Float64 integrate-and-fire: start at 0.5, one spike per step, subtract."""
    v = np.full(currents.shape[1:], 0.5)
    out = []
    for j in currents:
        v = v + j / threshold
        s = (v >= 1).astype(float)
        v = v - s
        out.append(s * threshold)
    return np.array(out)


def test_step_if_matches_float64_reference():
    rng = np.random.default_rng(1)
    n_steps, threshold = 6, 0.7
    x = rng.normal(0.4, 0.6, size=(n_steps, 5, 3)).astype("float32")
    layer = StepIF(n_steps, threshold=threshold)
    got = np.asarray(layer(x.reshape(-1, 3))).reshape(n_steps, 5, 3)
    np.testing.assert_allclose(got, if_reference(x.astype(float), threshold), atol=1e-6)
    # binary: at most one spike (of size threshold) per neuron and step
    assert set(np.unique(np.round(got / threshold, 6))) <= {0.0, 1.0}


def test_repeat_and_mean_fold_time_into_the_batch():
    x = np.arange(6, dtype="float32").reshape(3, 2)
    rep = np.asarray(RepeatSteps(4)(x))
    assert rep.shape == (12, 2)
    np.testing.assert_array_equal(rep[3:6], x)
    np.testing.assert_allclose(np.asarray(MeanOverSteps(4)(rep)), x)


def relu_convnet():
    """Fused ReLU, batch norm, max pooling, a standalone ReLU and a softmax."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((28, 28, 1))
    x = L.Conv2D(6, 3, activation="relu")(inputs)
    x = L.MaxPooling2D(2)(x)
    x = L.Conv2D(8, 3, use_bias=False)(x)
    x = L.BatchNormalization()(x)
    x = L.ReLU(max_value=6.0)(x)
    x = L.Flatten()(x)
    outputs = L.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    bn = model.layers[4]
    rng = np.random.default_rng(0)
    bn.set_weights([w + rng.uniform(0.1, 0.5, w.shape) for w in bn.get_weights()])
    return model


@pytest.mark.parametrize("n_steps", [1, 4])
def test_converted_network_equals_step_model_relu(n_steps):
    x, _ = images(64)
    model = step_model(relu_convnet(), n_steps, calibration_data=x)
    assert any(isinstance(layer, StepIF) for layer in model.layers)
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(spiking_output(model, x, n_steps), expected, atol=1e-4)


def test_converted_network_equals_step_model_sequential_lif():
    x, _ = images(64)
    keras.utils.set_random_seed(0)
    lif = dict(amplitude=0.01, max_rate=100, sigma=0.02)
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            L.Conv2D(6, 3),
            rateconv.SoftLIF(**lif),
            L.AveragePooling2D(2),
            L.Flatten(),
            L.Dense(16),
            rateconv.SoftLIF(**lif),
            L.Dense(10),
        ]
    )
    steps = step_model(model, 4, calibration_data=x)
    lifs = [layer for layer in steps.layers if isinstance(layer, StepLIF)]
    assert len(lifs) == 2 and all(la.scale_firing_rates > 1 for la in lifs)
    expected = steps.predict(x, verbose=0)
    got = spiking_output(steps, x, 4)
    # the simulator's XLA-compiled LIF update rounds like TensorFlow's up to
    # the last bit, so a voltage a rounding away from threshold may differ
    assert np.mean(np.isclose(got, expected, atol=1e-4)) > 0.95
    assert np.mean(got.argmax(1) == expected.argmax(1)) > 0.95


def test_saved_step_model_loads_and_converts(tmp_path):
    x, _ = images(32)
    model = step_model(relu_convnet(), 3, calibration_data=x)
    model.save(tmp_path / "steps.keras")
    loaded = keras.models.load_model(tmp_path / "steps.keras")
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, atol=1e-6)
    np.testing.assert_allclose(spiking_output(loaded, x, 3), expected, atol=1e-4)


def test_fine_tune_improves_spiking_accuracy_at_two_steps():
    x, y = images(2000)
    x_train, y_train, x_test, y_test = x[:1500], y[:1500], x[1500:], y[1500:]
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            L.Flatten(),
            L.Dense(64, activation="relu"),
            L.Dense(10),
        ]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x_train, y_train, epochs=5, batch_size=64, verbose=0)

    def accuracy(m):
        return np.mean(spiking_output(m, x_test, 2).argmax(1) == y_test)

    before = accuracy(step_model(model, 2, calibration_data=x_train[:300]))
    tuned = train_for_steps(
        model, x_train, y_train, n_steps=2, epochs=4, learning_rate=1e-3, verbose=0
    )
    after = accuracy(tuned)
    assert after > before + 0.02, (before, after)
    # the original is untouched
    assert not any(isinstance(layer, StepIF) for layer in model.layers)


def nested():
    inner = keras.Sequential(
        [keras.Input((3,)), L.Dense(3, activation="relu")], name="inner"
    )
    return keras.Sequential([keras.Input((4,)), L.Dense(3), inner, L.Dense(2)])


@pytest.mark.parametrize(
    "build, match",
    [
        (
            lambda: keras.Sequential(
                [keras.Input((4,)), L.Dense(3, activation="tanh"), L.Dense(2)]
            ),
            "'dense.*tanh",
        ),
        (
            lambda: keras.Sequential(
                [keras.Input((4,)), L.Dense(3), L.ELU(name="elu"), L.Dense(2)]
            ),
            "'elu'.*no converter",
        ),
        (nested, "'inner'.*nested model"),
    ],
)
def test_unsupported_layer_is_named(build, match):
    with pytest.raises(TypeError, match=match):
        step_model(build(), 4, calibration_data=np.ones((4, 4), "float32"))


def test_thresholds_need_calibration_data():
    model = keras.Sequential(
        [keras.Input((4,)), L.Dense(3, activation="relu"), L.Dense(2)]
    )
    with pytest.raises(ValueError, match="calibration_data"):
        step_model(model, 4)


def test_quantized_relu_keeps_its_trained_threshold():
    model = keras.Sequential(
        [
            keras.Input((4,)),
            L.Dense(3),
            rateconv.QuantizedReLU(levels=4, threshold=0.37),
            L.Dense(2),
        ]
    )
    steps = step_model(model, 4)  # no calibration needed
    layer = steps.get_layer(model.layers[1].name)
    assert isinstance(layer, StepIF)
    assert float(layer.threshold.numpy()) == pytest.approx(0.37)


def test_calibration_data_does_not_retune_a_step_model():
    x, _ = images(32)
    model = step_model(relu_convnet(), 2, calibration_data=x)
    plain = rateconv.convert(model)
    tuned = rateconv.convert(model, calibration_data=x, n_steps=2)
    sim = [
        rateconv.Simulator(n, precision="float32", progress=False)
        for n in (plain, tuned)
    ]
    np.testing.assert_array_equal(
        sim[0].predict(x, n_steps=2), sim[1].predict(x, n_steps=2)
    )


BYO = runpy.run_path(
    str(Path(__file__).resolve().parent.parent / "examples" / "byo_models.py")
)


@pytest.mark.parametrize("name", sorted(BYO["BUILDERS"]))
def test_every_user_model_kind_converts_to_its_step_model(name):
    """Residual adds, depthwise, ReLU6, LeakyReLU, Rescaling, SoftLIF, softmax."""
    x, _ = images(32)
    x = x * 255.0 if name in BYO["RAW_PIXELS"] else x
    keras.utils.set_random_seed(0)
    model = step_model(BYO["BUILDERS"][name](), 3, calibration_data=x)
    expected = model.predict(x, verbose=0)
    got = spiking_output(model, x, 3)
    close = np.isclose(got, expected, atol=1e-4, rtol=1e-4)
    # integrate-and-fire networks to float rounding; LIF (XLA's expm1) nearly
    assert close.mean() > (0.95 if name == "softlif" else 0.999), close.mean()
