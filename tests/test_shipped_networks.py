"""The networks shipped in pretrained/: they load, and do what their manifest says.

Measured on the shipped Fashion-MNIST test sample (no dataset download).
"""

import numpy as np
import pytest

import rateconv
from rateconv import datasets, pretrained
from rateconv.models import prepare_images

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
