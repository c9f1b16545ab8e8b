"""`rateconv bench` and the benchmark module (what is measured, not how fast)."""

import json

import keras
import numpy as np

import rateconv
from rateconv import benchmark
from rateconv.cli import main
from tests.helpers import tiny_model


def test_dense_flops_counts_every_kernel_weight_per_output_position():
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            keras.layers.Conv2D(3, 3),  # 4x4 positions x 3*3*2*3 weights
            keras.layers.ReLU(),
            keras.layers.DepthwiseConv2D(2),  # 3x3 positions x 2*2*3*1
            keras.layers.Flatten(),
            keras.layers.Dense(5),  # 27 x 5
        ]
    )
    net = rateconv.convert(model)
    expected = 2 * (16 * 54 + 9 * 12 + 27 * 5)
    assert benchmark.dense_flops(net) == expected


def test_relu_forward_replaces_every_neuron_by_relu():
    model = tiny_model()
    net = rateconv.convert(model)
    x = np.random.default_rng(0).random((3, 28, 28, 1)).astype(np.float32)
    relu_model = keras.Sequential(model.layers[:-2] + [keras.layers.ReLU()])
    hidden = relu_model(x)
    expected = model.layers[-1](hidden).numpy()
    np.testing.assert_allclose(
        benchmark.relu_forward(net)(x)[0].numpy(), expected, rtol=1e-5, atol=1e-6
    )


def test_bench_command_reports_every_setting(tmp_path, capsys):
    path = tmp_path / "tiny.keras"
    tiny_model().save(path)
    status = main(
        [
            "bench",
            str(path),
            "--batch-sizes",
            "1",
            "3",
            "--n-steps",
            "2",
            "4",
            "--min-seconds",
            "0.01",
            "--json",
        ]
    )
    assert status in (0, None)
    result = json.loads(capsys.readouterr().out)
    assert [(r["batch"], r["n_steps"]) for r in result["runs"]] == [
        (1, 2),
        (1, 4),
        (3, 2),
        (3, 4),
    ]
    for run in result["runs"]:
        assert run["image_steps_per_s"] > 0
        assert run["dense_ratio"] > 0
        assert 0 < run["roofline_fraction"]
        # the definitions, from the measured times
        forward = result["forward"][str(run["batch"])]
        assert np.isclose(
            run["dense_ratio"], run["seconds"] / (run["n_steps"] * forward)
        )
    assert result["engines"]["speedup"] > 0
    variants = {(r["batch"], r["precision"], r["kernels"]) for r in result["variants"]}
    assert {(3, "float32", False), (3, "bfloat16", False)} <= variants
    assert all(r["dense_ratio"] > 0 for r in result["variants"])
    assert result["matmul_gflops"] > 0
    assert result["peak_memory_mb"] > 0
    assert (
        result["dense_mflops_per_image"]
        == benchmark.dense_flops(rateconv.convert(tiny_model())) / 1e6
    )


def test_bench_rejects_bad_arguments(capsys):
    assert main(["bench", "missing.keras"]) == 2
    assert main(["bench", "--n-steps", "0"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
