"""Layers people use: clipped and leaky ReLUs, nested models, shared layers,
keras.ops arithmetic, Normalization, global max pooling, activations told
apart by function, and the refusals.  Each is checked against model.predict
(rate mode) and, where it has neurons, for spiking convergence."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import rateconv
from rateconv import neurons
from tests.helpers import assert_rate_equals_predict, inputs_for, randomize

L = keras.layers


def spiking_error(model, scale=100, n_steps=3000, **options):
    """Max |long-run spiking mean - rate mode|, relative to the output range."""
    net = rateconv.convert(model, scale_firing_rates=scale, **options)
    x = inputs_for(model, n=6)
    sim = rateconv.Simulator(net, progress=False)
    rate = sim.predict(x, mode="rate")
    mean = sim.predict(x, n_steps=n_steps, probe_synapse=None).mean(axis=1)
    return np.abs(mean - rate).max() / np.abs(rate).max()


def run_neuron(neuron, j, n_steps, dt=neurons.DT):
    """Mean output of ``neuron`` over ``n_steps`` of a constant current ``j``."""

    @tf.function
    def run(j):
        state = neuron.initial_state(j.shape)
        total = tf.zeros_like(j)
        for _ in tf.range(n_steps):
            out, state = neuron.step(j, state, dt)
            total += out
        return total / n_steps

    return run(tf.constant(j)).numpy()


# ---------------------------------------------------------------------------
# The neurons
# ---------------------------------------------------------------------------

CURRENTS = np.array([-40.0, -3.0, 0.0, 0.7, 2.0, 5.5, 6.0, 9.0, 300.0], np.float32)


@pytest.mark.parametrize(
    "rate",
    [
        neurons.ClippedRectifiedLinear(max_value=6.0),
        neurons.ClippedRectifiedLinear(max_value=6.0).scaled(200.0),
        neurons.ClippedRectifiedLinear(max_value=2.5, amplitude=0.5).scaled(1000.0),
        neurons.LeakyRectifiedLinear(negative_slope=0.3),
        neurons.LeakyRectifiedLinear(negative_slope=0.3).scaled(400.0),
        neurons.LeakyRectifiedLinear(negative_slope=2.0).scaled(100.0),
        neurons.LeakyRectifiedLinear(negative_slope=0.0).scaled(100.0),
    ],
    ids=repr,
)
@pytest.mark.parametrize("dt", [0.001, 0.002])
def test_mean_output_for_a_constant_input_equals_the_rate(rate, dt):
    spiking = rate.as_spiking()
    assert spiking.as_rate() == rate
    n_steps = 40_000
    mean = run_neuron(spiking, CURRENTS, n_steps, dt)
    expected = np.asarray(rate.rate(CURRENTS))
    # exact up to the last spike of the run: one spike is amplitude / (T dt)
    one_spike = rate.amplitude / (n_steps * dt)
    np.testing.assert_allclose(mean, expected, atol=1.01 * one_spike)


def test_clipped_neuron_caps_its_spikes_per_step():
    rate = neurons.ClippedRectifiedLinear(max_value=6.0).scaled(1 / (6.0 * 0.001))
    spiking = rate.as_spiking()
    j = np.array([1e6], np.float32)  # far above the cap: one spike per step
    state = spiking.initial_state(j.shape)
    counts = []
    for _ in range(50):
        out, state = spiking.step(j, state)
        counts.append(float(np.asarray(out)[0]) * 0.001 / spiking.amplitude)
    assert max(counts) <= 2 and np.mean(counts[1:]) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "rate",
    [
        neurons.ClippedRectifiedLinear(max_value=0.4),
        neurons.LeakyRectifiedLinear(negative_slope=0.2),
    ],
    ids=repr,
)
def test_scaling_is_exact_in_rate_mode(rate):
    x = np.linspace(-2, 2, 41).astype(np.float32)
    for k in (0.01, 3.0, 1000.0):
        np.testing.assert_allclose(
            np.asarray(rate.scaled(k).rate(x)), np.asarray(rate.rate(x)), rtol=1e-6
        )
    assert rate.is_linear_in_scale


def test_neuron_parameters_are_checked():
    with pytest.raises(ValueError, match="max_value"):
        neurons.ClippedRectifiedLinear(max_value=0.0)
    with pytest.raises(ValueError, match="negative_slope"):
        neurons.LeakyRectifiedLinear(negative_slope=-0.1)
    with pytest.raises(ValueError, match="reset"):
        neurons.SpikingLeakyRectifiedLinear(reset="none")


# ---------------------------------------------------------------------------
# Clipped and leaky ReLU layers and activations
# ---------------------------------------------------------------------------


def clipped_leaky_net():
    return randomize(
        keras.Sequential(
            [
                keras.Input((6,)),
                L.Dense(10, activation="relu6"),
                L.Dense(10),
                L.ReLU(max_value=0.3),
                L.Dense(10),
                L.LeakyReLU(negative_slope=0.1),
                L.Dense(10),
                L.ReLU(negative_slope=0.25),
                L.Dense(10, activation=keras.activations.leaky_relu),
                L.Dense(8),
                L.Activation(keras.activations.relu6),
                L.Dense(4),
            ]
        )
    )


def test_clipped_and_leaky_rate_mode_equals_predict():
    net = assert_rate_equals_predict(clipped_leaky_net())
    kinds = [type(s.spiking_neuron).__name__ for s in net.neuron_stages]
    assert kinds == ["SpikingClippedRectifiedLinear"] * 2 + [
        "SpikingLeakyRectifiedLinear"
    ] * 3 + ["SpikingClippedRectifiedLinear"]
    assert net.neuron_stages[1].rate_neuron.max_value == pytest.approx(0.3)
    assert net.neuron_stages[3].rate_neuron.negative_slope == 0.25


def test_clipped_and_leaky_converge_in_spiking_mode():
    model = clipped_leaky_net()
    # the clip at 0.3 is active on some inputs: saturation is tested too
    x = inputs_for(model, n=6)
    clipped = keras.Model(model.inputs, model.layers[2].output).predict(x, verbose=0)
    assert (clipped == np.float32(0.3)).any() and (clipped < 0.3).any()
    assert spiking_error(model, scale=100, n_steps=3000) < 0.03


def test_scale_firing_rates_keeps_clipped_and_leaky_rate_exact():
    model = clipped_leaky_net()
    with_scale = rateconv.convert(model, scale_firing_rates=37.0)
    assert_rate_equals_predict(model, with_scale)


def test_hard_sigmoid_and_linear_activations():
    model = randomize(
        keras.Sequential(
            [
                keras.Input((5,)),
                L.Dense(6, activation="hard_sigmoid"),
                L.Dense(6),
                L.Activation("linear", name="lin"),
                L.Activation("hard_sigmoid"),
                L.Dense(3),
            ]
        )
    )
    net = assert_rate_equals_predict(model, x=4 * inputs_for(model))
    assert "lin" not in net.by_name  # linear: an identity, which vanishes


def test_thresholded_relu_is_refused_or_swapped():
    model = keras.Sequential(
        [keras.Input((4,)), L.Dense(3), L.ReLU(threshold=0.5, name="r"), L.Dense(2)]
    )
    with pytest.raises(ValueError, match="'r'.*threshold=0.5.*jumps"):
        rateconv.convert(model)
    net = rateconv.convert(model, swap_activations={"r": rateconv.LIF()})
    assert isinstance(net["r"].spiking_neuron, rateconv.LIF)


def test_swap_names_of_the_relu_variants():
    model = keras.Sequential(
        [
            keras.Input((4,)),
            L.Dense(3, activation="relu6", name="a"),
            L.ReLU(max_value=6, name="b"),
            L.ReLU(max_value=2, name="c"),
            L.LeakyReLU(name="d"),
            L.Dense(2),
        ]
    )
    lif = rateconv.LIF()
    net = rateconv.convert(
        model, swap_activations={"relu6": lif, "clipped_relu": lif, "leaky_relu": lif}
    )
    assert all(s.spiking_neuron == lif for s in net.neuron_stages)


# ---------------------------------------------------------------------------
# Activations are functions, not names
# ---------------------------------------------------------------------------


def relu(x):  # a custom function that happens to be called relu
    return keras.ops.clip(x, 0.0, 0.5)


def my_act(x):
    return keras.ops.tanh(x)


@pytest.mark.parametrize("where", ["dense", "activation"])
def test_a_custom_function_named_relu_is_not_relu(where):
    if where == "dense":
        layers = [L.Dense(3, activation=relu, name="x")]
    else:
        layers = [L.Dense(3), L.Activation(relu, name="x")]
    model = keras.Sequential([keras.Input((4,)), *layers, L.Dense(2)])
    with pytest.raises(ValueError, match="'x'.*custom activation function 'relu'") as e:
        rateconv.convert(model)
    assert "swap_activations={'x'" in str(e.value)
    # swapped by layer name it converts (as the user says)
    net = rateconv.convert(model, swap_activations={"x": rateconv.LIF()})
    assert isinstance(net["x"].spiking_neuron, rateconv.LIF)


def test_a_custom_activation_is_refused_by_name_or_swapped_by_name():
    model = keras.Sequential(
        [keras.Input((4,)), L.Dense(3, activation=my_act, name="x"), L.Dense(2)]
    )
    with pytest.raises(ValueError, match="'my_act'.*swap_activations"):
        rateconv.convert(model)
    net = rateconv.convert(model, swap_activations={"my_act": rateconv.LIF()})
    assert isinstance(net["x"].spiking_neuron, rateconv.LIF)


def test_keras_ops_functions_as_activations():
    model = randomize(
        keras.Sequential(
            [
                keras.Input((4,)),
                L.Dense(5, activation=keras.ops.relu),
                L.Dense(5, activation=keras.ops.relu6),
                L.Dense(3, activation=keras.ops.softmax),
            ]
        )
    )
    assert_rate_equals_predict(model)


# ---------------------------------------------------------------------------
# Nested models and shared layers
# ---------------------------------------------------------------------------


def block(name):
    x = keras.Input((5,))
    y = L.Dense(5, activation="relu", name="dense")(x)
    return keras.Model(x, L.Add(name="add")([x, y]), name=name)


def nested_model():
    inner_seq = keras.Sequential(
        [
            keras.Input((5,)),
            L.Dense(5, name="dense"),
            L.ReLU(max_value=1.0, name="clip"),
        ],
        name="seq",
    )
    blk = block("blk")
    inp = keras.Input((5,))
    x = blk(blk(inner_seq(inp)))  # nested twice: two copies of its stages
    return randomize(keras.Model(inp, L.Dense(3, name="dense")(x)))


def test_nested_models_are_flattened():
    model = nested_model()
    net = assert_rate_equals_predict(model)
    names = [s.name for s in net.stages]
    assert names[1:] == [
        "seq/dense",
        "seq/clip",
        "blk/0/dense",
        "blk/0/add",
        "blk/1/dense",
        "blk/1/add",
        "dense",
    ]
    assert net["blk/1/add"].inputs == ("blk/0/add", "blk/1/dense")
    assert len(set(names)) == len(names)


def test_nested_sequential_in_sequential():
    inner = keras.Sequential([L.Dense(4), L.ReLU()], name="inner")
    model = randomize(keras.Sequential([keras.Input((3,)), inner, L.Dense(2)]))
    net = assert_rate_equals_predict(model)
    assert [s.name for s in net.neuron_stages] == [f"inner/{inner.layers[1].name}"]


def test_nested_stage_names_for_options():
    model = nested_model()
    lif = rateconv.LIF()
    net = rateconv.convert(
        model,
        swap_activations={"blk/1/dense": lif},
        scale_firing_rates={"blk/0/dense": 10.0},
    )
    assert net["blk/1/dense"].spiking_neuron == lif
    assert net["blk/0/dense"].spiking_neuron.gain == 10.0
    assert net["seq/dense"].spiking_neuron is None


def test_nested_models_converge_in_spiking_mode():
    assert spiking_error(nested_model(), scale=100, n_steps=2000) < 0.03


def test_model_nested_three_deep_ending_in_its_submodel():
    # NengoDL's test_nested_network: each model's output is its submodel's
    # output (Keras numbers those endpoints from 1; this crashed with
    # KeyError: ('subsubmodel', 1, 0))
    x0 = keras.Input((4,))
    x = L.Dense(10)(x0)
    sub_x0 = keras.Input(x.shape[1:])
    sub_x = L.Dense(5, activation="relu")(sub_x0)
    sub_sub_x0 = keras.Input(sub_x.shape[1:])
    sub_sub_x = L.Dense(5)(sub_sub_x0)
    sub_sub_model = keras.Model(sub_sub_x0, sub_sub_x, name="subsubmodel")
    sub_model = keras.Model(sub_x0, sub_sub_model(sub_x), name="submodel")
    model = randomize(keras.Model(x0, sub_model(x)))
    net = assert_rate_equals_predict(model)
    assert net.outputs == ("submodel/subsubmodel/" + sub_sub_model.layers[1].name,)


def _deep_model(depth, kind):
    """``depth`` models nested in each other, alternating Sequential and
    functional from ``kind``; the innermost is called twice."""
    leaf_in = keras.Input((4,))
    leaf = keras.Model(leaf_in, L.Dense(4, activation="relu")(leaf_in), name="m0")
    model = leaf
    for level in range(1, depth + 1):
        sequential = (level % 2 == 0) == (kind == "sequential")
        if sequential:
            model = keras.Sequential(
                [keras.Input((4,)), model, L.Dense(4, activation="relu")],
                name=f"m{level}",
            )
        else:
            inp = keras.Input((4,))
            y = model(inp)
            if level == 1:  # the innermost model called twice
                y = model(L.Add()([inp, y]))
            model = keras.Model(inp, model_output(y, level), name=f"m{level}")
    return randomize(model)


def model_output(y, level):
    # every other level ends in its nested model's output itself
    return y if level % 2 else L.Dense(4, name=f"out{level}")(y)


@pytest.mark.parametrize("kind", ["sequential", "functional"])
@pytest.mark.parametrize("depth", [2, 3, 5])
def test_models_nested_to_any_depth(depth, kind):
    model = _deep_model(depth, kind)
    net = assert_rate_equals_predict(model)
    names = [s.name for s in net.stages]
    assert len(set(names)) == len(names)


def test_nested_multi_output_model_as_output():
    inp = keras.Input((4,))
    h = L.Dense(6, activation="relu")(inp)
    inner = keras.Model(inp, [L.Dense(2)(h), L.Dense(3)(h)], name="two")
    top_in = keras.Input((4,))
    a, b = inner(L.Dense(4)(top_in))
    model = randomize(keras.Model(top_in, [b, a]))
    net = assert_rate_equals_predict(model)
    assert len(net.outputs) == 2


def test_nested_model_built_without_a_fixed_input_shape():
    inner = keras.Sequential(
        [keras.Input((None, None, 2)), L.Conv2D(3, 3, activation="relu")],
        name="features",
    )
    inp = keras.Input((6, 6, 2))
    x = L.GlobalAveragePooling2D()(inner(inp))
    model = randomize(keras.Model(inp, L.Dense(2)(x)))
    net = assert_rate_equals_predict(model)
    assert net[f"features/{inner.layers[0].name}"].output_shape == (4, 4, 3)


def shared_model():
    shared = L.Dense(6, activation="relu", name="shared")
    conv = L.Conv1D(1, 3, padding="same", name="conv")
    inp = keras.Input((6,))
    a = shared(inp)
    b = L.Dense(6, name="mid")(a)
    c = shared(b)  # the second call reads a layer listed after `shared`
    d = L.Reshape((6, 1))(L.Add()([a, c]))
    e = conv(conv(d))  # a linear shared layer, called on its own output
    return randomize(keras.Model(inp, L.Dense(3)(L.Flatten()(e))))


def test_shared_layers_become_one_stage_per_call():
    model = shared_model()
    net = assert_rate_equals_predict(model)
    assert net["shared/1"].inputs == ("mid",)
    assert net["conv/1"].inputs == ("conv/0",)
    assert "shared" not in net.by_name
    assert spiking_error(model, scale=100, n_steps=2000) < 0.03


def test_shared_layer_batch_norm_folds_per_call():
    shared = L.Dense(4, name="shared")
    inp = keras.Input((4,))
    a = L.BatchNormalization(name="bn")(shared(inp))
    b = shared(L.ReLU()(a))
    model = randomize(keras.Model(inp, L.ReLU()(b)))
    net = assert_rate_equals_predict(model)
    assert net["shared/0"].kind == "Dense+BatchNormalization"
    assert net["shared/1"].kind == "Dense"
    # the folded copy does not change the call that has no batch norm
    assert net["shared/1"].op is model.get_layer("shared")


# ---------------------------------------------------------------------------
# keras.ops nodes
# ---------------------------------------------------------------------------


def ops_model():
    inp = keras.Input((5,))
    x = L.Dense(5, name="d1")(inp)
    y = x * 0.5 + 1.0  # hard-sigmoid style arithmetic
    y = keras.ops.multiply(2.0, -y)
    y = keras.ops.divide(y, 3.0) - 0.25
    y = 1.5 - y
    y = y * np.linspace(0.5, 1.5, 5).astype("float32")  # a constant array
    z = L.ReLU(name="r")(keras.ops.add(y, x))  # two tensors
    z = keras.ops.subtract(z, L.Dense(5, name="d2")(inp))
    return randomize(keras.Model(inp, L.Dense(3, name="out")(z)))


def test_affine_keras_ops_convert_exactly():
    model = ops_model()
    net = assert_rate_equals_predict(model)
    kinds = {s.kind for s in net.stages}
    assert {"ops.Multiply", "ops.Add", "ops.Negative", "ops.Subtract"} <= kinds
    assert spiking_error(model, scale=100, n_steps=2000) < 0.03


@pytest.mark.parametrize(
    "make, what",
    [
        (lambda x: x * x, "multiplies two tensors"),
        (lambda x: 1.0 / x, "divides by a tensor"),
        (lambda x: keras.ops.exp(x), "not one of the affine"),
        (lambda x: keras.ops.maximum(x, 0.0), "not one of the affine"),
    ],
    ids=["x*x", "1/x", "exp", "maximum"],
)
def test_other_keras_ops_are_refused_by_name(make, what):
    inp = keras.Input((4,))
    model = keras.Model(inp, L.Dense(2)(make(L.Dense(4)(inp))))
    with pytest.raises(TypeError, match=f"Operation '.*' \\(keras.ops .*{what}") as e:
        rateconv.convert(model)
    assert "keras.layers.Rescaling" in str(e.value)


# ---------------------------------------------------------------------------
# Normalization, pooling, softmax, merges
# ---------------------------------------------------------------------------


def test_normalization_layer():
    norm = L.Normalization()
    norm.adapt(np.random.default_rng(0).normal(2.0, 3.0, (50, 4)).astype("float32"))
    model = keras.Sequential(
        [keras.Input((4,)), norm, L.Dense(5, activation="relu"), L.Dense(2)]
    )
    randomize(model)
    norm.adapt(np.random.default_rng(0).normal(2.0, 3.0, (50, 4)).astype("float32"))
    assert_rate_equals_predict(model, x=5 * inputs_for(model))


@pytest.mark.parametrize("dims", [1, 2])
def test_global_max_pooling_converges_in_spiking_mode(dims):
    conv = L.Conv1D if dims == 1 else L.Conv2D
    pool = L.GlobalMaxPooling1D if dims == 1 else L.GlobalMaxPooling2D
    shape = (9, 2) if dims == 1 else (6, 6, 2)
    model = randomize(
        keras.Sequential(
            [
                keras.Input(shape),
                conv(4, 3, bias_initializer="ones"),
                L.ReLU(),
                pool(),
                L.Dense(3),
            ]
        )
    )
    assert_rate_equals_predict(model)
    assert spiking_error(model, scale=100, n_steps=3000) < 0.05


def test_softmax_layer_on_the_output_only():
    model = randomize(
        keras.Sequential([keras.Input((4,)), L.Dense(3), L.Softmax(name="sm")])
    )
    net = assert_rate_equals_predict(model)
    assert net["sm"].readout is not None
    inner = keras.Sequential(
        [keras.Input((4,)), L.Dense(3), L.Softmax(name="sm"), L.Dense(2)]
    )
    with pytest.raises(ValueError, match="'sm'.*softmax"):
        rateconv.convert(inner)


def test_concatenate_on_the_batch_axis_is_refused():
    a, b = keras.Input((3,)), keras.Input((3,))
    model = keras.Model([a, b], L.Concatenate(axis=0, name="cat")([a, b]))
    with pytest.raises(ValueError, match="'cat'.*axis 0, the batch axis"):
        rateconv.convert(model)
    a, b = keras.Input((2, 3)), keras.Input((2, 3))
    for axis in (1, 2, -1, -2):
        model = keras.Model([a, b], L.Concatenate(axis=axis)([a, b]))
        assert_rate_equals_predict(model)
    model = keras.Model([a, b], L.Concatenate(axis=-3, name="cat")([a, b]))
    with pytest.raises(ValueError, match="batch axis"):
        rateconv.convert(model)


def test_engines_agree_on_the_new_neurons():
    model = clipped_leaky_net()
    net = rateconv.convert(model, scale_firing_rates=100, initial_state="uniform")
    x = inputs_for(model)
    a = rateconv.Simulator(net, progress=False).predict(x, n_steps=40)
    b = rateconv.Simulator(net, engine="step", progress=False).predict(x, n_steps=40)
    assert np.abs(a).max() > 0
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
