"""Firing-rate regularizer: value, serialization, effect on training."""

import keras
import numpy as np
import pytest

import rateconv


def penalty_numpy(x, min_rate, max_rate, amplitude, percentile=None):
    r = np.asarray(x, np.float64).reshape(len(x), -1) / amplitude
    if percentile is not None:
        r = np.percentile(r, percentile, axis=0)
    excess = np.maximum(min_rate - r, 0) + np.maximum(r - max_rate, 0)
    penalty = np.mean(excess**2, axis=-1)
    return penalty * len(x) if percentile is not None else penalty.sum()


@pytest.mark.parametrize("percentile", [None, 90.0])
def test_value_matches_numpy(percentile):
    x = np.random.default_rng(0).uniform(0, 1.5, size=(16, 3, 4)).astype(np.float32)
    reg = rateconv.FiringRateRegularizer(
        (20, 100), weight=1e-3, amplitude=0.01, percentile=percentile
    )
    expected = 1e-3 * penalty_numpy(x, 20, 100, 0.01, percentile)
    assert float(reg(x)) == pytest.approx(expected, rel=1e-4)
    assert expected > 0


def test_no_penalty_inside_range_and_no_upper_bound():
    x = np.full((4, 5), 0.5, np.float32)  # 50 Hz
    assert float(rateconv.FiringRateRegularizer((10, 60), amplitude=0.01)(x)) == 0
    unbounded = rateconv.FiringRateRegularizer((10, None), weight=1.0)
    assert float(unbounded(np.full((2, 3), 1e6, np.float32))) == 0
    assert float(unbounded(np.zeros((2, 3), np.float32))) == pytest.approx(200)


def test_serialization(tmp_path):
    reg = rateconv.FiringRateRegularizer(
        (5, 80), weight=2e-4, amplitude=0.01, percentile=99
    )
    again = keras.regularizers.deserialize(keras.regularizers.serialize(reg))
    assert isinstance(again, rateconv.FiringRateRegularizer)
    assert again.get_config() == reg.get_config()
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(6),
            rateconv.SoftLIF(amplitude=0.01, activity_regularizer=reg),
        ]
    )
    path = tmp_path / "r.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    layer_reg = loaded.layers[1].activity_regularizer
    assert isinstance(layer_reg, rateconv.FiringRateRegularizer)
    assert layer_reg.get_config() == reg.get_config()
    # conversion ignores the regularizer
    assert len(rateconv.convert(loaded).neuron_stages) == 1


@pytest.mark.parametrize("start, target", [("silent", (30, 80)), ("fast", (0, 40))])
def test_training_pushes_rates_into_range(start, target):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(64, 4)).astype(np.float32)
    bias = -1.0 if start == "silent" else 2.0
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(
                8,
                kernel_initializer=keras.initializers.RandomUniform(0, 0.5),
                bias_initializer=keras.initializers.Constant(bias),
            ),
            rateconv.SoftLIF(
                sigma=0.1,
                amplitude=0.01,
                max_rate=100,
                activity_regularizer=rateconv.FiringRateRegularizer(
                    target, weight=1e-3, amplitude=0.01
                ),
            ),
        ]
    )

    def rates():
        return model.predict(x, verbose=0).mean(axis=0) / 0.01

    before = rates()
    inside = (before >= target[0]) & (before <= target[1])
    assert not inside.any()
    # the regularizer is the only loss
    model.compile(keras.optimizers.Adam(0.05), loss=lambda y, p: 0.0 * p)
    xs = np.tile(x, (8, 1))  # one epoch of many steps: less per-epoch overhead
    model.fit(xs, xs[:, :1], epochs=1, batch_size=16, verbose=0)
    after = rates()
    assert np.all((after >= target[0] - 1) & (after <= target[1] + 1)), after


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"target": (50, 10)}, "target"),
        ({"target": 5}, "target"),
        ({"weight": -1}, "weight"),
        ({"amplitude": 0}, "amplitude"),
        ({"percentile": 0}, "percentile"),
        ({"weight": float("inf")}, "weight"),
    ],
)
def test_invalid_parameters(kwargs, name):
    with pytest.raises(ValueError, match=name):
        rateconv.FiringRateRegularizer(**kwargs)
