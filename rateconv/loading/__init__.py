"""Keras model files in: `load_model` reads Keras 3 archives and tf.keras 2.x files.

See `rateconv.loading._load` for the kinds of file recognised and
`rateconv.loading._tf_ops` for the TensorFlow ops of Keras 2 graphs rebuilt.
"""

from rateconv.loading._legacy import model_from_legacy_config
from rateconv.loading._load import (
    LoadedModel,
    ModelFileError,
    explain_load_error,
    load_model,
    read_model,
)
from rateconv.loading._saved_model import read_keras_metadata, resave_command
from rateconv.loading._tf_ops import LegacyModelError, rewrite_tf_ops, supported_tf_ops

__all__ = [
    "LegacyModelError",
    "LoadedModel",
    "ModelFileError",
    "explain_load_error",
    "load_model",
    "model_from_legacy_config",
    "read_keras_metadata",
    "read_model",
    "resave_command",
    "rewrite_tf_ops",
    "supported_tf_ops",
]
