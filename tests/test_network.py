"""Stage and SpikingNetwork are frozen values; passes and replace_stages make
new ones."""

import dataclasses

import keras
import pytest

import rateconv
from rateconv.converter import _passes
from tests.helpers import relu_mlp

L = keras.layers


def test_stages_are_frozen():
    net = rateconv.convert(relu_mlp())
    stage = net["d1"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        stage.spiking_neuron = None
    with pytest.raises(dataclasses.FrozenInstanceError):
        stage.inputs = ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        net.outputs = ("d1",)
    assert isinstance(stage.inputs, tuple)
    assert isinstance(net.stages, tuple) and isinstance(net.outputs, tuple)
    # identity semantics: usable as dict keys, equal only to themselves
    assert {stage: 1}[stage] == 1
    assert dataclasses.replace(stage) is not stage


def test_stage_normalizes_sequences_to_tuples():
    stage = rateconv.Stage("s", "Dense", ["a", "b"], None, [3, 4])
    assert stage.inputs == ("a", "b") and stage.output_shape == (3, 4)
    net = rateconv.SpikingNetwork([stage], ["a"], ["s"])
    assert net.inputs == ("a",) and net.outputs == ("s",)
    assert net.by_name is net.by_name  # cached


def test_replace_stages_returns_a_new_network_sharing_unchanged_stages():
    net = rateconv.convert(relu_mlp())
    lif = rateconv.LIF()
    new = net.replace_stages({"r2": {"spiking_neuron": lif, "initial_state": "half"}})
    assert new is not net
    assert new["r2"].spiking_neuron is lif and new["r2"].initial_state == "half"
    assert type(net["r2"].spiking_neuron) is rateconv.SpikingRectifiedLinear
    assert net["r2"].initial_state == "zero"
    for old, now in zip(net.stages, new.stages):
        assert (now is old) == (old.name != "r2")
    assert (new.inputs, new.outputs, new.name) == (net.inputs, net.outputs, net.name)
    assert new.by_name["r2"] is new["r2"]


def test_replace_stages_errors():
    net = rateconv.convert(relu_mlp())
    with pytest.raises(KeyError, match="nope"):
        net.replace_stages({"nope": {"synapse": None}})
    with pytest.raises(ValueError, match="rename"):
        net.replace_stages({"d1": {"name": "other"}})
    with pytest.raises(TypeError):
        net.replace_stages({"d1": {"not_a_field": 1}})


def test_passes_return_new_stages_and_leave_theirs_alone():
    net = rateconv.convert(relu_mlp())
    stages = list(net.stages)
    before = [(s.spiking_neuron, s.rate_neuron, s.synapse, s.inputs) for s in stages]
    scaled = _passes.apply_neuron_options(
        stages, reset="zero", initial_state="half", scale_firing_rates={"d1": 4.0}
    )
    synapsed = _passes.attach_synapses(scaled, rateconv.Lowpass(0.01))
    after = [(s.spiking_neuron, s.rate_neuron, s.synapse, s.inputs) for s in stages]
    assert after == before and stages == list(net.stages)
    d1 = next(s for s in synapsed if s.name == "d1")
    assert d1.spiking_neuron.gain == 4.0 and d1.spiking_neuron.reset == "zero"
    assert d1.initial_state == "half" and d1.synapse == rateconv.Lowpass(0.01)
    out = next(s for s in synapsed if s.name == "out")
    assert out is net["out"]  # no neuron: nothing to change, the same stage


def test_resolve_identities_rewires_readers():
    model = keras.Sequential(
        [
            keras.Input((3,), name="x"),
            L.Dense(2, name="d"),
            L.Dropout(0.1, name="drop1"),
            L.Dropout(0.1, name="drop2"),
            L.Dense(2, name="o"),
        ]
    )
    net = rateconv.convert(model)
    assert [s.name for s in net.stages] == ["x", "d", "o"]
    assert net["o"].inputs == ("d",)
    stage = rateconv.Stage("i", "Identity", ("d",), None, (2,))
    assert _passes.is_identity(stage)
    assert not _passes.is_identity(rateconv.Stage("x", "InputLayer", (), None, (3,)))
