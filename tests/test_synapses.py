import numpy as np
import pytest

from rateconv.synapses import Alpha, Lowpass, as_synapse
from tests import reference


@pytest.mark.parametrize("tau, dt", [(0.005, 0.001), (0.1, 0.001), (0.02, 0.002)])
def test_lowpass_step_response(tau, dt):
    n = 300
    y = Lowpass(tau).filter(np.ones((2, n, 3)), dt=dt, axis=1)
    t = dt * np.arange(1, n + 1)
    expected = 1 - np.exp(-t / tau)
    np.testing.assert_allclose(y[0, :, 0], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y[1, :, 2], expected, rtol=1e-5, atol=1e-6)


def test_lowpass_matches_reference_on_noise():
    x = np.random.default_rng(0).normal(size=(200, 4))
    np.testing.assert_allclose(
        Lowpass(0.01).filter(x, axis=0),
        reference.lowpass(x, 0.01),
        rtol=1e-4,
        atol=1e-6,
    )


def test_alpha_is_two_lowpass_in_series():
    x = np.random.default_rng(1).normal(size=(3, 100, 5)).astype(np.float32)
    lp = Lowpass(0.01)
    twice = lp.filter(lp.filter(x), axis=1)
    np.testing.assert_allclose(Alpha(0.01).filter(x), twice, rtol=1e-5, atol=1e-7)
    # and its impulse response peaks later than the lowpass one
    imp = np.zeros((1, 100, 1), np.float32)
    imp[0, 0] = 1
    assert np.argmax(Alpha(0.01).filter(imp)[0, :, 0]) > 0
    assert np.argmax(lp.filter(imp)[0, :, 0]) == 0


def test_step_agrees_with_filter():
    x = np.random.default_rng(2).normal(size=(50, 4)).astype(np.float32)
    for syn in (Lowpass(0.02), Alpha(0.02)):
        state = syn.initial_state((4,))
        ys = []
        for t in range(50):
            y, state = syn.step(x[t], state)
            ys.append(np.asarray(y))
        np.testing.assert_allclose(
            np.array(ys), syn.filter(x, axis=0), rtol=1e-5, atol=1e-6
        )


@pytest.mark.parametrize("tau", [-0.1, 0.0, float("nan"), float("inf")])
def test_invalid_tau(tau):
    with pytest.raises(ValueError, match="tau"):
        Lowpass(tau)
    with pytest.raises(ValueError, match="tau"):
        Alpha(tau)


def test_as_synapse():
    assert as_synapse(None) is None
    assert as_synapse(0.1) == Lowpass(0.1)
    assert as_synapse(Alpha(0.1)) == Alpha(0.1)
    with pytest.raises(ValueError, match="probe_synapse"):
        as_synapse(-1.0, "probe_synapse")
    with pytest.raises(TypeError, match="synapse"):
        as_synapse("lowpass")
