"""``precision="auto"``: int8 on a CPU (exact integer spike sums)."""

import numpy as np
import pytest

import rateconv
from rateconv.simulator import _precision
from tests.helpers import conv_net, images


def test_cpu_flags_decide(tmp_path):
    with_bf16 = tmp_path / "bf16"
    with_bf16.write_text("processor: 0\nflags\t: fpu sse2 avx512f avx512_bf16\n")
    without = tmp_path / "plain"
    without.write_text("processor: 0\nflags\t: fpu sse2 avx2\n")
    assert _precision.cpu_has_bf16(str(with_bf16))
    assert not _precision.cpu_has_bf16(str(without))
    assert not _precision.cpu_has_bf16(str(tmp_path / "missing"))


def test_auto_follows_the_cpu_unless_the_environment_says(monkeypatch):
    monkeypatch.delenv(_precision.PRECISION_ENV, raising=False)
    import tensorflow as tf

    expected = "float32" if tf.config.list_logical_devices("GPU") else "int8"
    assert rateconv.simulator.auto_precision() == expected
    net = rateconv.convert(conv_net(), scale_firing_rates=50)
    assert rateconv.Simulator(net).precision == expected
    # the step engine is the float32 reference whatever the CPU
    assert rateconv.Simulator(net, engine="step").precision == "float32"
    monkeypatch.setenv(_precision.PRECISION_ENV, "bfloat16")
    assert rateconv.Simulator(net).precision == "bfloat16"
    monkeypatch.setenv(_precision.PRECISION_ENV, "float16")
    with pytest.raises(ValueError, match="RATECONV_PRECISION must be"):
        rateconv.Simulator(net)


@pytest.mark.filterwarnings("ignore::rateconv.ActivityWarning")
def test_bfloat16_changes_results_by_rounding_only():
    net = rateconv.convert(conv_net(), scale_firing_rates=50, synapse=0.005)
    x = images(6)
    a = rateconv.Simulator(net, precision="float32").predict(x, n_steps=40)
    b = rateconv.Simulator(net, precision="bfloat16").predict(x, n_steps=40)
    assert np.abs(a).max() > 0
    np.testing.assert_allclose(b, a, atol=0.05 * np.abs(a).max())
