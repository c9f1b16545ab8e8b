"""Keras Applications (weights=None, small inputs): each converts exactly
(rate mode == model.predict on 2 images) or is refused with a message naming
the layer.  About 20 s in all; deselect with ``-m "not slow"``."""

import keras
import numpy as np
import pytest

import rateconv
from tests.helpers import assert_rate_equals_predict

A = keras.applications

# name -> (builder, the layer refusing it or None when it converts)
APPLICATIONS = {
    "MobileNetV2": (
        lambda: A.MobileNetV2(
            weights=None,
            input_shape=(32, 32, 3),
            alpha=0.35,
            classes=10,
            classifier_activation=None,
        ),
        None,
    ),
    "ResNet50": (
        lambda: A.ResNet50(
            weights=None,
            input_shape=(32, 32, 3),
            classes=10,
            classifier_activation=None,
        ),
        None,
    ),
    "DenseNet121": (
        lambda: A.DenseNet121(
            weights=None,
            input_shape=(32, 32, 3),
            classes=10,
            classifier_activation=None,
        ),
        None,
    ),
    "VGG16": (
        lambda: A.VGG16(
            weights=None,
            input_shape=(32, 32, 3),
            classes=10,
            classifier_activation=None,
        ),
        None,
    ),
    # hard-swish multiplies two tensors: no spiking equivalent
    "MobileNetV3Small": (
        lambda: A.MobileNetV3Small(
            weights=None,
            input_shape=(32, 32, 3),
            classes=10,
            classifier_activation=None,
        ),
        "hard_silu",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(APPLICATIONS))
def test_application_converts_exactly_or_is_refused_by_layer(name):
    build, refused_by = APPLICATIONS[name]
    keras.utils.set_random_seed(0)
    model = build()
    x = np.random.default_rng(0).uniform(0, 1, (2, 32, 32, 3)).astype("float32")
    if refused_by is None:
        net = assert_rate_equals_predict(model, x=x)
        assert net.neuron_stages
        return
    with pytest.raises((TypeError, ValueError)) as info:
        rateconv.convert(model)
    message = str(info.value)
    assert refused_by in message
    named = [layer.name for layer in model.layers if f"'{layer.name}'" in message]
    assert named, message
