"""Exchange with neuromorphic hardware and other simulators through NIR.

`export_nir` writes a `SpikingNetwork` as a NIR graph (HDF5 or in memory);
`import_nir` reads the node types it writes back into a `SpikingNetwork`.
``_conventions`` holds what both ends share.

May import: ``neurons``, ``synapses``, ``network`` and the private
infrastructure (a NIR graph is a network; it needs no simulator).
"""

from rateconv.nir._export import ExportError, export_nir
from rateconv.nir._import import import_nir

__all__ = ["ExportError", "export_nir", "import_nir"]
