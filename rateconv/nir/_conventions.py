"""What rateconv's NIR export and import agree on.

Both ends load the ``nir`` package through `nir_package`, so a missing
install gives one clear message.
"""

from __future__ import annotations


def nir_package():
    """The ``nir`` package, with a clear message when it is missing."""
    try:
        import nir
    except ImportError as e:  # pragma: no cover - nir is a dependency
        raise ImportError(
            "NIR export and import need the `nir` package: pip install nir"
        ) from e
    return nir
