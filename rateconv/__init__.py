"""rateconv: convert trained Keras networks into spiking neural networks."""

__version__ = "0.1.0"
