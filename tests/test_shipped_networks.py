"""The networks shipped in pretrained/: they load, and do what their manifest says.

Measured on the shipped Fashion-MNIST test sample (no dataset download).
"""

import numpy as np
import pytest

import rateconv
from rateconv import datasets
from rateconv.zoo import pretrained
from rateconv.zoo.models import prepare_images

N_IMAGES = 500


@pytest.fixture(scope="module")
def sample():
    x, y = datasets.load_fashion_mnist_sample()
    return prepare_images(x[:N_IMAGES]), np.asarray(y[:N_IMAGES])


@pytest.mark.parametrize("name", pretrained.available())
def test_shipped_network_loads_and_classifies(name, sample):
    x, y = sample
    # load_pretrained checks the file's checksum and architecture
    model = pretrained.load_pretrained(name)
    entry = pretrained.read_manifest()[name]
    rate = rateconv.Simulator(rateconv.convert(model), progress=False).evaluate(
        x, y, mode="rate"
    )
    # the manifest's error is for the 10,000 test images; a 500-image subset
    # differs by sampling noise only
    assert abs(rate.error - entry["rate_error"]) < 0.04


def test_spiking_aware_network_keeps_its_accuracy_in_10_steps(sample):
    """The fine-tuned network's spiking accuracy at 10 steps is near rate mode."""
    x, y = sample
    name = "fashion_mnist_softlif_aware"
    net = rateconv.convert(
        pretrained.load_pretrained(name), **pretrained.conversion_options(name)
    )
    sim = rateconv.Simulator(net, progress=False)
    rate = sim.evaluate(x, y, mode="rate")
    spiking = sim.evaluate(x, y, n_steps=10)
    assert spiking.error <= rate.error + 0.015


TUNED = [n for n in pretrained.available() if "tuned" in pretrained.read_manifest()[n]]
TRAINED_FOR_STEPS = [n for n in pretrained.available() if n not in TUNED]


@pytest.mark.parametrize("name", TRAINED_FOR_STEPS)
def test_network_trained_for_steps_spikes_binary_as_its_manifest_says(name, sample):
    """A network from rateconv.train_for_steps: binary, its recorded errors."""
    entry = pretrained.read_manifest()[name]
    net = rateconv.convert(
        pretrained.load_pretrained(name), **pretrained.conversion_options(name)
    )
    assert net.max_spikes_per_step == 1 == entry["spiking"]["max_spikes_per_step"]
    x, y = sample
    sim = rateconv.Simulator(net, progress=False)
    errors = entry["spiking"]["errors_by_n_steps"]
    for n_steps in ("4", "8"):
        spiking = sim.evaluate(x, y, n_steps=int(n_steps))
        # the manifest's errors are on the 10,000 test images: sampling noise
        assert abs(spiking.error - errors[n_steps]) < 0.04


@pytest.mark.parametrize("name", TUNED)
def test_manifest_options_are_the_tuned_ones_and_reproduce_its_error(name, sample):
    """The stored options came from rateconv.tune and give the recorded error."""
    entry = pretrained.read_manifest()[name]
    tuned = entry["tuned"]
    assert f"tune_pretrained.py {name}" in tuned["command"]
    n_steps = tuned["n_steps"]
    options = pretrained.conversion_options(name)
    net = rateconv.convert(pretrained.load_pretrained(name), **options)
    # the network carries the tuned readout, used by evaluate's defaults
    assert net.readout == options["readout"]
    x, y = sample
    spiking = rateconv.Simulator(net, progress=False).evaluate(x, y, n_steps=n_steps)
    # the manifest's error is on the 10,000 test images: sampling noise only
    assert abs(spiking.error - entry["spiking"][f"error_at_{n_steps}_steps"]) < 0.04
