"""Reference networks and the registry of shipped pretrained networks.

``rateconv.zoo.models``: the NengoDL reference network and the training
helpers the shipped networks were made with; ``rateconv.zoo.pretrained``:
the manifest, checksums and `load_pretrained`.

May import everything below it (layers, converter, simulator, tuning); only
the CLI and the package's public API import it.
"""

from rateconv.zoo import models, pretrained
from rateconv.zoo.pretrained import available, load_pretrained

__all__ = ["available", "load_pretrained", "models", "pretrained"]
