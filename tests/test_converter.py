"""convert(): architectures (rate mode equals model.predict), batch-norm
folding, the graph walk and its errors, network structure, Converter."""

import keras
import numpy as np
import pytest

import rateconv
from tests.helpers import (
    assert_rate_equals_predict,
    inputs_for,
    randomize,
    relu_mlp,
)

L = keras.layers


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


def seq_3d_max():
    """3D max pooling, local and global."""
    return keras.Sequential(
        [
            keras.Input((4, 4, 4, 1)),
            L.Conv3D(2, 3, padding="same", activation="relu"),
            L.MaxPooling3D(2),
            L.Conv3D(2, 1, activation="relu"),
            L.GlobalMaxPooling3D(),
            L.Dense(2),
        ]
    )


def seq_layers_people_use():
    """Normalization, clipped and leaky ReLUs, a Softmax layer at the output."""
    return keras.Sequential(
        [
            keras.Input((6,)),
            # per-feature statistics: Keras 3.3 cannot build a scalar mean on
            # 6 features (test_normalization_scalar_statistics covers that)
            L.Normalization(
                mean=[0.1, -0.2, 0.3, 0.0, 0.5, -0.1],
                variance=[2.0, 1.0, 0.5, 3.0, 1.5, 0.25],
            ),
            L.Dense(8, activation="relu6"),
            L.Dense(8),
            L.ReLU(max_value=0.3),
            L.Dense(8),
            L.LeakyReLU(negative_slope=0.1),
            L.Dense(4),
            L.Softmax(),
        ]
    )


def seq_training_aids():
    return keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            L.Conv2D(4, 3),
            rateconv.QuantizedReLU(levels=4, threshold=1.5),
            L.Flatten(),
            L.Dense(3 * 4),
            rateconv.PopulationPooling(4),  # 3 classes of 4 outputs each
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
    seq_3d_max,
    seq_layers_people_use,
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
    # (tests/test_spiking_aware.py checks it converts like the layer it wraps);
    # the step layers of train_for_steps run spikes through time too: their
    # converted network equals predict after n_steps spiking steps
    # (tests/test_train_for_steps.py)
    missing = set(rateconv.supported_layers()) - covered
    missing -= {"InputLayer", "SpikingAware"}
    missing -= {"RepeatSteps", "StepIF", "StepLIF", "StepMaxPooling2D", "MeanOverSteps"}
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
    assert net.outputs == ("d",)


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


def test_nested_model_is_flattened():
    inner = keras.Sequential([keras.Input((4,)), L.Dense(3, name="d")], name="inner")
    inp = keras.Input((4,))
    outer = randomize(keras.Model(inp, L.Dense(2, name="out")(inner(inp))))
    net = assert_rate_equals_predict(outer)
    assert [s.name for s in net.stages][1:] == ["inner/d", "out"]
    seq = randomize(keras.Sequential([keras.Input((4,)), inner, L.Dense(2)]))
    assert_rate_equals_predict(seq)


def test_nested_subclassed_model():
    inp = keras.Input((3,))
    model = keras.Model(inp, L.Dense(2)(_Subclassed()(inp)))
    with pytest.raises(TypeError, match="subclassed"):
        rateconv.convert(model)


def test_shared_layer_one_stage_per_call():
    shared = L.Dense(4, name="shared")
    inp = keras.Input((4,))
    model = randomize(keras.Model(inp, shared(shared(inp))))
    net = assert_rate_equals_predict(model)
    assert net["shared/1"].inputs == ("shared/0",)
    assert net.outputs == ("shared/1",)


@pytest.mark.parametrize(
    "obj", [None, "model.keras", L.Dense(3), np.zeros(3)], ids=repr
)
def test_not_a_model(obj):
    with pytest.raises(TypeError, match="Received"):
        rateconv.convert(obj)


def test_unbuilt_sequential():
    with pytest.raises(ValueError, match="not built"):
        rateconv.convert(keras.Sequential([L.Dense(2)]))


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
    assert net.outputs == ("h", "o")
    assert net.inputs == ("x",)
    assert net["o"].inputs == ("h",)


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
    model = relu_mlp()
    x = inputs_for(model)
    before = model.predict(x, verbose=0)
    weights = [w.copy() for w in model.get_weights()]
    rateconv.convert(model, swap_activations={"relu": rateconv.LIF()})
    np.testing.assert_array_equal(model.predict(x, verbose=0), before)
    for a, b in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(a, b)
    assert model.get_layer("d1").get_config()["activation"] == "relu"


def test_converter_class_verifies_rate_mode_against_keras():
    from tests.helpers import conv_net, images

    for activation in ("relu", "softlif"):
        model = conv_net(activation)
        conv = rateconv.Converter(model, synapse=0.005, scale_firing_rates=4)
        assert conv.options == {"synapse": 0.005, "scale_firing_rates": 4}
        assert [s.name for s in conv.net.stages] == [
            s.name for s in rateconv.convert(model).stages
        ]
        assert conv.verify(images(5), batch_size=2) is True


def test_converter_verify_reports_a_changed_rate_function():
    from tests.helpers import conv_net, images

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


def test_normalization_scalar_statistics():
    """A scalar mean and variance broadcast over the features, as in Keras."""
    try:
        model = keras.Sequential(
            [keras.Input((6,)), L.Normalization(mean=0.1, variance=2.0), L.Dense(3)]
        )
    except Exception as e:  # Keras' own failure, before rateconv is involved
        pytest.skip(f"Keras {keras.__version__} cannot build it: {str(e)[:80]}")
    keras.utils.set_random_seed(0)
    assert_rate_equals_predict(randomize(model))
