import warnings

import keras
import numpy as np
import pytest

import rateconv
from rateconv import converter

L = keras.layers


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def randomize(model, seed=0):
    """Give every weight a random value, batch-norm statistics included.

    Keras initializes biases and beta to 0, gamma and the moving variance to 1
    and the moving mean to 0: folding such a batch norm would be a no-op, so a
    bug in it could not show.
    """
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = []
        for w in layer.weights:
            shape = tuple(w.shape)
            if w.name == "moving_variance":
                weights.append(rng.uniform(0.3, 2.0, shape))
            elif w.name == "gamma":
                weights.append(rng.uniform(0.5, 1.5, shape))
            elif w.name == "threshold":  # QuantizedReLU's positive threshold
                weights.append(rng.uniform(0.5, 2.0, shape))
            elif w.name == "moving_mean":
                weights.append(rng.normal(0.0, 0.5, shape))
            else:
                fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 4
                weights.append(rng.normal(0.0, 1.0 / np.sqrt(fan_in), shape))
        if weights:
            layer.set_weights([w.astype(np.float32) for w in weights])
    return model


def inputs_for(model, n=4, seed=1):
    rng = np.random.default_rng(seed)
    xs = [
        rng.uniform(-1.0, 1.0, (n,) + tuple(t.shape[1:])).astype(np.float32)
        for t in model.inputs
    ]
    return xs[0] if len(xs) == 1 else xs


def assert_rate_equals_predict(model, net=None, x=None):
    """Rate mode of the converted ``model`` equals ``model.predict``."""
    net = rateconv.convert(model) if net is None else net
    x = inputs_for(model) if x is None else x
    expected = model.predict(x, verbose=0)
    actual = rateconv.Simulator(net, progress=False).predict(x, mode="rate")
    if isinstance(expected, (list, tuple)):
        assert isinstance(actual, list) and len(actual) == len(expected)
    else:
        expected, actual = [expected], [actual]
    for a, e in zip(actual, expected):
        scale = np.abs(e).max()
        assert scale > 0  # a network that outputs only zeros would prove nothing
        assert a.shape == e.shape
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-5 * scale)
    return net


# ---------------------------------------------------------------------------
# Architectures: rate mode == model.predict
# ---------------------------------------------------------------------------


def seq_dense_softmax():
    """Sequential MLP: relu/linear/softmax, dropout and noise, Activation."""
    return keras.Sequential(
        [
            keras.Input((6,)),
            L.Dense(8, activation="relu"),
            L.Dropout(0.5),
            L.Dense(8),
            L.Activation("relu"),
            L.GaussianNoise(1.0),
            L.Dense(7, activation="linear"),
            L.ReLU(),
            L.Dense(4, activation="softmax"),
        ]
    )


def seq_conv2d():
    """Conv2D with strides and both paddings, max pooling, spatial dropout."""
    return keras.Sequential(
        [
            keras.Input((9, 9, 2)),
            L.Conv2D(3, 3, strides=2, padding="same", activation="relu"),
            L.Conv2D(4, 2, padding="valid"),
            L.ReLU(),
            L.SpatialDropout2D(0.5),
            L.MaxPooling2D(2, padding="same"),
            L.Conv2D(4, 2, strides=(1, 2), padding="same", dilation_rate=1),
            L.Flatten(),
            L.Dense(3),
        ]
    )


def seq_conv2d_variants():
    """Depthwise, separable, transposed conv; padding, cropping, upsampling."""
    return keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            L.ZeroPadding2D(1),
            L.DepthwiseConv2D(3, depth_multiplier=2, activation="relu"),
            L.SeparableConv2D(3, 3, padding="same", activation="relu"),
            L.Cropping2D(((1, 0), (0, 1))),
            L.UpSampling2D(2),
            L.Conv2DTranspose(2, 3, strides=2, padding="same", activation="relu"),
            L.AveragePooling2D(2),
            L.Conv2DTranspose(2, 2, padding="valid"),
            L.UpSampling2D(2, interpolation="bilinear"),
            L.AveragePooling2D(3, strides=2, padding="same"),
            L.GlobalMaxPooling2D(),
            L.Dense(3),
        ]
    )


def func_residual():
    """Functional residual net: Add, Subtract, Average, Concatenate."""
    inp = keras.Input((6, 6, 2))
    a = L.Conv2D(4, 3, padding="same", activation="relu")(inp)
    b = L.Conv2D(4, 3, padding="same")(a)
    s = L.ReLU()(L.Add()([a, b]))
    d = L.Subtract()([s, a])
    m = L.Average()([d, a, s])
    c = L.Concatenate()([m, a, inp])
    g = L.GlobalAveragePooling2D()(c)
    out = L.Dense(3, activation="softmax")(g)
    return keras.Model(inp, out)


def seq_batch_norm():
    """BN first (kept), after Conv2D/Dense (folded), after pooling (kept)."""
    return keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            L.BatchNormalization(),
            L.Conv2D(3, 3),
            L.BatchNormalization(),
            L.ReLU(),
            L.AveragePooling2D(2),
            L.BatchNormalization(),
            L.Conv2D(3, 1, use_bias=False),
            L.BatchNormalization(scale=False),
            L.Activation("relu"),
            L.Flatten(),
            L.Dense(5),
            L.BatchNormalization(center=False),
            L.ReLU(),
            L.Dense(3),
            L.BatchNormalization(),
        ]
    )


def func_batch_norm_branch():
    """A conv output read by BN and by another layer: BN cannot fold."""
    inp = keras.Input((5, 5, 2))
    a = L.Conv2D(3, 3, padding="same")(inp)
    b = L.BatchNormalization()(a)
    c = L.ReLU()(L.Add()([a, b]))
    d = L.DepthwiseConv2D(3)(c)
    e = L.BatchNormalization()(d)  # DepthwiseConv2D is not folded
    out = L.Dense(2)(L.Flatten()(L.ReLU()(e)))
    return keras.Model(inp, out)


def seq_conv1d():
    """The 1D layers."""
    return keras.Sequential(
        [
            keras.Input((12, 2)),
            L.ZeroPadding1D(1),
            L.Conv1D(3, 3, strides=2, activation="relu"),
            L.DepthwiseConv1D(2, activation="relu"),
            L.SeparableConv1D(3, 2, padding="same", activation="relu"),
            L.UpSampling1D(2),
            L.Cropping1D((1, 1)),
            L.Conv1DTranspose(2, 3, strides=2, padding="same", activation="relu"),
            L.SpatialDropout1D(0.3),
            L.AveragePooling1D(2),
            L.MaxPooling1D(2),
            L.Conv1D(3, 2, padding="same"),
            L.BatchNormalization(),
            L.ReLU(),
            L.GlobalAveragePooling1D(),
            L.Dense(2),
        ]
    )


def func_global_max_1d():
    """Two global poolings of one 1D feature map, concatenated."""
    inp = keras.Input((8, 3))
    h = L.Conv1D(4, 3, padding="same", activation="relu")(inp)
    gmax = L.GlobalMaxPooling1D()(h)
    gavg = L.GlobalAveragePooling1D()(h)
    out = L.Dense(3)(L.Concatenate()([gmax, gavg]))
    return keras.Model(inp, out)


def seq_reshape():
    """Reshape, Permute, Dense on 3D input, Rescaling and inference identities."""
    return keras.Sequential(
        [
            keras.Input((4, 6)),
            L.Rescaling(2.0, offset=-0.5),
            L.Reshape((6, 4)),
            L.Permute((2, 1)),
            L.Dense(5, activation="relu"),
            L.GaussianDropout(0.5),
            L.AlphaDropout(0.5),
            L.ActivityRegularization(l1=0.1),
            L.Identity(),
            L.Flatten(),
            L.Dense(3),
        ]
    )


def seq_softlif():
    """rateconv.SoftLIF with and without max_rate / intercept."""
    return keras.Sequential(
        [
            keras.Input((5,)),
            L.Dense(8),
            rateconv.SoftLIF(sigma=0.05, amplitude=0.01, max_rate=150, intercept=-0.2),
            L.Dense(6),
            rateconv.SoftLIF(sigma=0.5, tau_rc=0.03, tau_ref=0.001, amplitude=0.02),
            L.Dense(2),
        ]
    )


def func_multi_output():
    """Three outputs, one of them a hidden layer that also feeds others."""
    inp = keras.Input((6,))
    h = L.Dense(8, activation="relu")(inp)
    o1 = L.Dense(3, activation="softmax")(h)
    o2 = L.Dense(2)(L.Dropout(0.5)(h))
    return keras.Model(inp, [o1, o2, h])


def func_multi_input():
    """Two inputs merged by Concatenate and Subtract."""
    a = keras.Input((4,))
    b = keras.Input((4,))
    ha = L.Dense(5, activation="relu")(a)
    hb = L.Dense(5, activation="relu")(b)
    merged = L.Concatenate()([ha, L.Subtract()([ha, hb]), b])
    return keras.Model([a, b], L.Dense(3)(merged))


def seq_3d():
    """The 3D layers."""
    return keras.Sequential(
        [
            keras.Input((4, 4, 4, 1)),
            L.ZeroPadding3D(1),
            L.Conv3D(2, 3, activation="relu"),
            L.SpatialDropout3D(0.5),
            L.Cropping3D(((1, 0), (0, 1), (1, 1))),
            L.AveragePooling3D(2, padding="same"),
            L.Conv3D(2, 1),
            L.BatchNormalization(),
            L.ReLU(),
            L.GlobalAveragePooling3D(),
            L.Dense(2),
        ]
    )


def seq_training_aids():
    return keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            L.Conv2D(4, 3),
            rateconv.QuantizedReLU(levels=4, threshold=1.5),
            L.Flatten(),
            L.Dense(3),
        ]
    )


ARCHITECTURES = [
    seq_dense_softmax,
    seq_conv2d,
    seq_conv2d_variants,
    func_residual,
    seq_batch_norm,
    func_batch_norm_branch,
    seq_conv1d,
    func_global_max_1d,
    seq_reshape,
    seq_softlif,
    func_multi_output,
    func_multi_input,
    seq_3d,
    seq_training_aids,
]


def _layer_types(builder):
    return {type(layer).__name__ for layer in builder().layers}


@pytest.mark.parametrize("builder", ARCHITECTURES, ids=lambda b: b.__name__)
def test_rate_mode_equals_predict(builder):
    keras.utils.set_random_seed(0)
    model = randomize(builder())
    assert_rate_equals_predict(model)


def test_architectures_cover_the_registry():
    covered = set().union(*(_layer_types(b) for b in ARCHITECTURES))
    # InputLayer is in every model but not in model.layers
    # SpikingAware's forward pass is the spike mean, by design not rate mode
    # (tests/test_spiking_aware.py checks it converts like the layer it wraps)
    missing = set(rateconv.supported_layers()) - covered
    missing -= {"InputLayer", "SpikingAware"}
    assert not missing


# ---------------------------------------------------------------------------
# Batch-norm folding
# ---------------------------------------------------------------------------


def _bn_stages(net):
    return [s for s in net.stages if s.kind == "BatchNormalization"]


@pytest.mark.parametrize("layer", ["conv", "dense"])
def test_batch_norm_folds_into_preceding_layer(layer):
    first = L.Conv2D(3, 3, name="lin") if layer == "conv" else L.Dense(3, name="lin")
    model = randomize(
        keras.Sequential(
            [
                keras.Input((5, 5, 2)),
                first,
                L.BatchNormalization(name="bn"),
                L.ReLU(),
                L.Flatten(),
                L.Dense(2),
            ]
        )
    )
    net = assert_rate_equals_predict(model)
    assert not _bn_stages(net)
    assert "bn" not in net.by_name
    assert "BatchNormalization" in net["lin"].kind
    # the model itself is left untouched
    assert model.get_layer("lin").kernel is not net["lin"].op.kernel


def test_batch_norm_fold_can_be_disabled():
    model = randomize(
        keras.Sequential(
            [keras.Input((4,)), L.Dense(3), L.BatchNormalization(), L.ReLU()]
        )
    )
    net = rateconv.convert(model, fold_batch_norm=False)
    assert len(_bn_stages(net)) == 1
    assert_rate_equals_predict(model, net)


def test_batch_norm_as_output_folds():
    model = randomize(
        keras.Sequential(
            [keras.Input((4,)), L.Dense(3, name="d"), L.BatchNormalization()]
        )
    )
    net = assert_rate_equals_predict(model)
    assert not _bn_stages(net)
    assert net.outputs == ["d"]


@pytest.mark.parametrize(
    "builder",
    [
        lambda: keras.Sequential(
            [
                keras.Input((4, 4, 2)),
                L.Conv2D(3, 1),
                L.AveragePooling2D(2),
                L.BatchNormalization(name="bn"),
            ]
        ),
        lambda: keras.Sequential(
            [keras.Input((4,)), L.BatchNormalization(name="bn"), L.Dense(2)]
        ),
        lambda: keras.Sequential(
            [
                keras.Input((4,)),
                L.Dense(3, activation="relu"),
                L.BatchNormalization(name="bn"),
            ]
        ),
        func_batch_norm_branch,
    ],
    ids=["after_pooling", "first", "after_relu", "input_read_twice"],
)
def test_batch_norm_kept_where_it_cannot_fold(builder):
    model = randomize(builder())
    net = assert_rate_equals_predict(model)
    assert _bn_stages(net)
    assert not any("+BatchNormalization" in s.kind for s in net.stages)


def test_batch_norm_trained_statistics():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), L.Dense(6), L.BatchNormalization(momentum=0.5), L.ReLU()]
    )
    model.add(L.Dense(2))
    model.compile("sgd", "mse")
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, (32, 4)).astype(np.float32)
    model.fit(x, rng.normal(size=(32, 2)), epochs=3, batch_size=8, verbose=0)
    bn = model.layers[1]
    assert np.abs(bn.moving_mean.numpy()).max() > 0.1
    net = assert_rate_equals_predict(model, x=x[:4])
    assert not _bn_stages(net)


# ---------------------------------------------------------------------------
# Neurons: mapping, swapping, scaling, synapses
# ---------------------------------------------------------------------------


def _relu_mlp():
    return randomize(
        keras.Sequential(
            [
                keras.Input((5,)),
                L.Dense(6, activation="relu", name="d1"),
                L.Dense(6, name="d2"),
                L.ReLU(name="r2"),
                L.Dense(6, name="d3"),
                L.Activation("relu", name="a3"),
                L.Dense(3, name="out"),
            ]
        )
    )


def _softlif_mlp():
    return randomize(
        keras.Sequential(
            [
                keras.Input((5,)),
                L.Dense(6, name="d1"),
                rateconv.SoftLIF(
                    sigma=0.1,
                    tau_rc=0.03,
                    tau_ref=0.003,
                    amplitude=0.01,
                    max_rate=120,
                    intercept=-0.3,
                    name="s1",
                ),
                L.Dense(3, name="out"),
            ]
        )
    )


def test_relu_maps_to_spiking_rectified_linear():
    net = rateconv.convert(_relu_mlp())
    for name in ("d1", "r2", "a3"):
        stage = net[name]
        assert type(stage.spiking_neuron) is rateconv.SpikingRectifiedLinear
        assert type(stage.rate_neuron) is rateconv.RectifiedLinear
    for name in ("d2", "d3", "out"):
        assert net[name].spiking_neuron is None
        assert net[name].rate_neuron is None
    assert [s.name for s in net.neuron_stages] == ["d1", "r2", "a3"]
    # the stage op has no activation left: it is applied by the neuron
    assert net["d1"].op.get_config()["activation"] == "linear"


def test_softlif_maps_to_lif_with_same_parameters():
    model = _softlif_mlp()
    layer = model.get_layer("s1")
    net = assert_rate_equals_predict(model)
    neuron = net["s1"].spiking_neuron
    assert type(neuron) is rateconv.LIF
    expected_gain, expected_bias = rateconv.lif_gain_bias(
        120, -0.3, tau_rc=0.03, tau_ref=0.003
    )
    assert neuron.tau_rc == 0.03
    assert neuron.tau_ref == 0.003
    assert neuron.amplitude == 0.01
    assert neuron.gain == pytest.approx(expected_gain)
    assert neuron.bias == pytest.approx(expected_bias)
    assert (neuron.gain, neuron.bias) == (layer.neuron.gain, layer.neuron.bias)


def _numpy_lif_rate(j, tau_rc, tau_ref, amplitude):
    out = np.zeros_like(j, dtype=np.float64)
    above = j > 1
    out[above] = amplitude / (tau_ref + tau_rc * np.log1p(1 / (j[above] - 1)))
    return out


def _numpy_mlp(model, x, hidden):
    """Forward pass of a stack of Dense layers, ``hidden(pre)`` on all but the last."""
    h = x.astype(np.float64)
    for i, layer in enumerate(model.layers):
        w, b = layer.get_weights()
        h = h @ w + b
        if i < len(model.layers) - 1:
            h = hidden(h)
    return h


def test_swap_activations_by_activation_name():
    keras.utils.set_random_seed(0)
    model = randomize(
        keras.Sequential(
            [
                keras.Input((5,)),
                L.Dense(6, activation="relu", name="h1"),
                L.Dense(6, activation="relu", name="h2"),
                L.Dense(3, name="out"),
            ]
        )
    )
    lif = rateconv.LIF(amplitude=0.01)
    net = rateconv.convert(model, swap_activations={"relu": lif})
    for name in ("h1", "h2"):
        assert net[name].spiking_neuron == lif
        assert type(net[name].rate_neuron) is rateconv.LIFRate
        assert net[name].rate_neuron.amplitude == 0.01
    # rate mode: an independent numpy forward pass with the LIF rate curve
    x = 3 * inputs_for(model, n=8)
    expected = _numpy_mlp(model, x, lambda j: _numpy_lif_rate(j, 0.02, 0.002, 0.01))
    actual = rateconv.Simulator(net, progress=False).predict(x, mode="rate")
    assert np.abs(expected).max() > 0
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-6)
    # ... which is not what the Keras model computes
    assert not np.allclose(actual, model.predict(x, verbose=0), atol=1e-3)


def test_swap_activations_by_layer_name():
    model = _relu_mlp()
    lif = rateconv.LIF(amplitude=0.02, tau_rc=0.05)
    net = rateconv.convert(model, swap_activations={"r2": lif, "d1": lif})
    assert net["d1"].spiking_neuron == lif
    assert net["r2"].spiking_neuron == lif
    assert type(net["r2"].rate_neuron) is rateconv.LIFRate
    assert type(net["a3"].spiking_neuron) is rateconv.SpikingRectifiedLinear


def test_swap_activations_softlif_and_linear_layer():
    model = _softlif_mlp()
    relu = rateconv.SpikingRectifiedLinear()
    net = rateconv.convert(model, swap_activations={"softlif": relu})
    assert net["s1"].spiking_neuron == relu
    assert type(net["s1"].rate_neuron) is rateconv.RectifiedLinear
    # a layer name puts a neuron on a linear layer
    net = rateconv.convert(model, swap_activations={"d1": relu})
    assert net["d1"].spiking_neuron == relu


def test_swap_activations_makes_tanh_convertible():
    model = keras.Sequential(
        [keras.Input((3,)), L.Dense(4, activation="tanh", name="t"), L.Dense(2)]
    )
    lif = rateconv.LIF()
    assert rateconv.convert(model, swap_activations={"tanh": lif})["t"].spiking_neuron
    assert rateconv.convert(model, swap_activations={"t": lif})["t"].spiking_neuron


def test_swap_activations_rejects_non_neurons():
    model = _relu_mlp()
    with pytest.raises(TypeError, match="swap_activations"):
        rateconv.convert(model, swap_activations={"relu": "tanh"})
    with pytest.raises(TypeError, match="s1"):
        rateconv.convert(_softlif_mlp(), swap_activations={"s1": keras.ops.relu})


def test_scale_firing_rates_relu_is_exact_in_rate_mode():
    model = _relu_mlp()
    net = rateconv.convert(model, scale_firing_rates=100)
    for stage in net.neuron_stages:
        assert stage.spiking_neuron.gain == 100
        assert stage.spiking_neuron.amplitude == pytest.approx(0.01)
        assert stage.rate_neuron.gain == 100
    assert_rate_equals_predict(model, net)


def test_scale_firing_rates_softlif_speeds_up_time_constants_exactly():
    model = _softlif_mlp()
    original = rateconv.convert(model)["s1"].spiking_neuron
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # exact, so no warning
        net = rateconv.convert(model, scale_firing_rates=4)
    neuron = net["s1"].spiking_neuron
    assert neuron.amplitude == pytest.approx(original.amplitude / 4)
    assert neuron.tau_rc == pytest.approx(original.tau_rc / 4)
    assert neuron.tau_ref == pytest.approx(original.tau_ref / 4)
    assert (neuron.gain, neuron.bias) == (original.gain, original.bias)
    x = np.random.default_rng(0).normal(size=(16,) + model.input_shape[1:])
    x = x.astype(np.float32)
    rate = rateconv.Simulator(net).predict(x, mode="rate")
    np.testing.assert_allclose(rate, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_scale_firing_rates_warns_where_the_curve_changes():
    model = keras.Sequential(
        [keras.Input((3,)), L.Dense(4), L.Activation("tanh"), L.Dense(2)]
    )
    tanh_like = rateconv.RectifiedLinear(bias=0.5)  # ReLU with bias: not invariant
    with pytest.warns(UserWarning, match="changes its rate curve"):
        rateconv.convert(
            model, swap_activations={"tanh": tanh_like}, scale_firing_rates=10
        )


def test_scale_firing_rates_dict_applies_to_named_layers_only():
    model = _relu_mlp()
    net = rateconv.convert(model, scale_firing_rates={"r2": 10, "d2": 5})
    assert net["r2"].spiking_neuron.gain == 10
    assert net["r2"].spiking_neuron.amplitude == pytest.approx(0.1)
    assert net["d1"].spiking_neuron.gain == 1
    assert net["a3"].spiking_neuron.gain == 1
    assert net["d2"].spiking_neuron is None  # no neuron: nothing to scale
    assert_rate_equals_predict(model, net)


@pytest.mark.parametrize(
    "value, match",
    [
        ({"nope": 2}, "nope"),
        (0, "positive"),
        (-3.0, "positive"),
        ("10", "positive"),
    ],
)
def test_scale_firing_rates_bad_values(value, match):
    with pytest.raises(ValueError, match=match):
        rateconv.convert(_relu_mlp(), scale_firing_rates=value)


@pytest.mark.parametrize("synapse", [0.005, rateconv.Lowpass(0.005)])
def test_synapse_on_neuron_stages_only(synapse):
    net = rateconv.convert(_relu_mlp(), synapse=synapse)
    with_neuron = {s.name for s in net.neuron_stages}
    assert with_neuron == {"d1", "r2", "a3"}
    for stage in net.stages:
        if stage.name in with_neuron:
            assert stage.synapse == rateconv.Lowpass(0.005)
        else:
            assert stage.synapse is None


def test_no_synapse_by_default():
    net = rateconv.convert(_relu_mlp())
    assert all(s.synapse is None for s in net.stages)


# ---------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "max_layer, avg_layer",
    [
        (lambda: L.MaxPooling2D(2, name="pool"), lambda: L.AveragePooling2D(2)),
        (
            lambda: L.MaxPooling2D(3, strides=2, padding="same", name="pool"),
            lambda: L.AveragePooling2D(3, strides=2, padding="same"),
        ),
        (
            lambda: L.GlobalMaxPooling2D(name="pool"),
            lambda: L.GlobalAveragePooling2D(),
        ),
    ],
    ids=["2x2", "3x3_same", "global"],
)
def test_max_to_avg_pool(max_layer, avg_layer):
    def build(pool):
        keras.utils.set_random_seed(0)
        layers = [keras.Input((6, 6, 2)), L.Conv2D(3, 3, padding="same"), pool]
        if not isinstance(pool, (L.GlobalMaxPooling2D, L.GlobalAveragePooling2D)):
            layers.append(L.Flatten())
        return randomize(keras.Sequential([*layers, L.Dense(2)]))

    with_max, with_avg = build(max_layer()), build(avg_layer())
    x = inputs_for(with_max)
    net = rateconv.convert(with_max, max_to_avg_pool=True)
    assert net["pool"].spiking_max_pool is None
    assert_rate_equals_predict(with_avg, net, x)
    # without the option, max pooling stays exact (and differs from average)
    exact = rateconv.convert(with_max)
    assert exact["pool"].spiking_max_pool is not None
    assert_rate_equals_predict(with_max, exact, x)
    assert not np.allclose(
        with_max.predict(x, verbose=0), with_avg.predict(x, verbose=0), atol=1e-3
    )


def test_max_to_avg_pool_1d():
    keras.utils.set_random_seed(0)
    max_model = randomize(
        keras.Sequential(
            [keras.Input((8, 2)), L.Conv1D(2, 1), L.MaxPooling1D(2), L.Flatten()]
        )
    )
    avg_model = keras.Sequential(
        [keras.Input((8, 2)), L.Conv1D(2, 1), L.AveragePooling1D(2), L.Flatten()]
    )
    avg_model.set_weights(max_model.get_weights())
    net = rateconv.convert(max_model, max_to_avg_pool=True)
    assert_rate_equals_predict(avg_model, net, inputs_for(max_model))


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "layer",
    [
        lambda: L.LSTM(3, name="odd"),
        lambda: L.LayerNormalization(name="odd"),
    ],
    ids=["LSTM", "LayerNormalization"],
)
def test_unsupported_layer(layer):
    layer = layer()
    model = keras.Sequential([keras.Input((4, 3)), layer, L.Flatten()])
    with pytest.raises(TypeError) as info:
        rateconv.convert(model)
    message = str(info.value)
    assert "'odd'" in message
    assert type(layer).__name__ in message
    assert "Conv2D" in message and "Dense" in message  # the supported list
    assert "register_converter" in message


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "elu"])
def test_hidden_activation_without_spiking_equivalent(activation):
    model = keras.Sequential(
        [
            keras.Input((4,)),
            L.Dense(3, activation=activation, name="hidden"),
            L.Dense(2),
        ]
    )
    with pytest.raises(ValueError) as info:
        rateconv.convert(model)
    message = str(info.value)
    assert "'hidden'" in message
    assert activation in message
    assert "swap_activations" in message


def test_activation_layer_without_spiking_equivalent():
    model = keras.Sequential(
        [keras.Input((4,)), L.Dense(3), L.Activation("tanh", name="act"), L.Dense(2)]
    )
    with pytest.raises(ValueError, match="'act'.*tanh"):
        rateconv.convert(model)


def test_softmax_only_on_outputs():
    model = keras.Sequential(
        [
            keras.Input((4,)),
            L.Dense(3, activation="softmax", name="inner"),
            L.Dense(2),
        ]
    )
    with pytest.raises(ValueError, match="'inner'.*softmax"):
        rateconv.convert(model)


@pytest.mark.parametrize(
    "kwargs", [dict(max_value=6), dict(negative_slope=0.1), dict(threshold=0.5)]
)
def test_non_plain_relu(kwargs):
    model = keras.Sequential(
        [keras.Input((4,)), L.Dense(3), L.ReLU(**kwargs, name="r"), L.Dense(2)]
    )
    with pytest.raises(ValueError, match="'r'"):
        rateconv.convert(model)


class _Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = L.Dense(2)

    def call(self, x):
        return self.dense(x)


def test_subclassed_model():
    model = _Subclassed()
    model(np.zeros((1, 3), np.float32))
    with pytest.raises(TypeError, match="functional"):
        rateconv.convert(model)


def test_nested_model():
    inner = keras.Sequential([keras.Input((4,)), L.Dense(3)], name="inner")
    inp = keras.Input((4,))
    outer = keras.Model(inp, L.Dense(2)(inner(inp)))
    with pytest.raises(TypeError, match="'inner'.*nested"):
        rateconv.convert(outer)
    seq = keras.Sequential([keras.Input((4,)), inner, L.Dense(2)])
    with pytest.raises(TypeError, match="nested"):
        rateconv.convert(seq)


def test_shared_layer():
    shared = L.Dense(4, name="shared")
    inp = keras.Input((4,))
    model = keras.Model(inp, shared(shared(inp)))
    with pytest.raises(ValueError, match="'shared'"):
        rateconv.convert(model)


@pytest.mark.parametrize(
    "obj", [None, "model.keras", L.Dense(3), np.zeros(3)], ids=repr
)
def test_not_a_model(obj):
    with pytest.raises(TypeError, match="Received"):
        rateconv.convert(obj)


def test_unbuilt_sequential():
    with pytest.raises(ValueError, match="not built"):
        rateconv.convert(keras.Sequential([L.Dense(2)]))


class _Double(keras.layers.Layer):
    def call(self, x):
        return 2 * x


class _Half(L.Dense):
    """A subclass of a registered class: not matched by inheritance."""


def test_register_converter_for_custom_layer():
    model = randomize(
        keras.Sequential(
            [
                keras.Input((4,)),
                L.Dense(3, activation="relu"),
                _Double(name="double"),
                L.Dense(2),
            ]
        )
    )
    with pytest.raises(TypeError, match="_Double"):
        rateconv.convert(model)

    @rateconv.register_converter(_Double)
    def convert_double(layer, ctx):
        return dict(op=layer)

    try:
        assert "_Double" in rateconv.supported_layers()
        net = assert_rate_equals_predict(model)
        assert net["double"].op is model.get_layer("double")
        assert net["double"].kind == "_Double"
    finally:
        converter._REGISTRY.pop(_Double)
    assert "_Double" not in rateconv.supported_layers()
    with pytest.raises(TypeError, match="_Double"):
        rateconv.convert(model)


def test_subclass_of_registered_layer_needs_its_own_converter():
    model = keras.Sequential([keras.Input((4,)), _Half(2, name="half")])
    with pytest.raises(TypeError, match="'half'"):
        rateconv.convert(model)


# ---------------------------------------------------------------------------
# Network structure
# ---------------------------------------------------------------------------


def test_identity_layers_vanish_and_outputs_resolve():
    inp = keras.Input((4,), name="x")
    h = L.Dense(3, activation="relu", name="h")(inp)
    out = L.Dropout(0.5, name="drop")(h)
    model = randomize(keras.Model(inp, [out, L.Dense(2, name="o")(out)]))
    net = assert_rate_equals_predict(model)
    assert "drop" not in net.by_name
    assert net.outputs == ["h", "o"]
    assert net.inputs == ["x"]
    assert net["o"].inputs == ["h"]


def test_stage_order_and_shapes():
    model = func_residual()
    net = rateconv.convert(model)
    seen = set()
    for stage in net.stages:
        assert all(name in seen for name in stage.inputs)
        seen.add(stage.name)
    for layer in model.layers:
        if layer.name in net.by_name:
            assert net[layer.name].output_shape == tuple(layer.output.shape[1:])
    subtract = next(s for s in net.stages if s.kind == "Subtract")
    add = next(s for s in net.stages if s.kind == "ReLU")
    assert subtract.inputs[0] == add.name  # operand order is kept


def test_convert_leaves_model_unchanged():
    model = _relu_mlp()
    x = inputs_for(model)
    before = model.predict(x, verbose=0)
    weights = [w.copy() for w in model.get_weights()]
    rateconv.convert(model, swap_activations={"relu": rateconv.LIF()})
    np.testing.assert_array_equal(model.predict(x, verbose=0), before)
    for a, b in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(a, b)
    assert model.get_layer("d1").get_config()["activation"] == "relu"


def test_converter_class_verifies_rate_mode_against_keras():
    from tests.test_simulator import conv_net, images

    for activation in ("relu", "softlif"):
        model = conv_net(activation)
        conv = rateconv.Converter(model, synapse=0.005, scale_firing_rates=4)
        assert conv.options == {"synapse": 0.005, "scale_firing_rates": 4}
        assert [s.name for s in conv.net.stages] == [
            s.name for s in rateconv.convert(model).stages
        ]
        assert conv.verify(images(5), batch_size=2) is True


def test_converter_verify_reports_a_changed_rate_function():
    from tests.test_simulator import conv_net, images

    model = conv_net("relu")
    conv = rateconv.Converter(model, swap_activations={"relu": rateconv.LIF()})
    with pytest.raises(ValueError, match="differs from model.predict"):
        conv.verify(images(4))


def test_converter_verify_with_several_outputs():
    inp = keras.Input((6,))
    hidden = keras.layers.Dense(8, activation="relu")(inp)
    model = keras.Model(
        inp, [keras.layers.Dense(3)(hidden), keras.layers.Dense(2)(hidden)]
    )
    x = np.random.default_rng(0).normal(size=(7, 6)).astype(np.float32)
    assert rateconv.Converter(model).verify(x) is True
