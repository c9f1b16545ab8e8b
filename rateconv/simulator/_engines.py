"""The engine table: how `Simulator` finds the code that runs a minibatch.

An engine is a class with one job::

    class MyEngine(Engine):
        name = "mine"
        precisions = ("float32",)

        def run_batch(self, minibatch, spec):  # -> RunResult
            ...

registered with ``@register_engine``; ``Simulator(net, engine="mine")`` then
uses it for spiking runs.  Rate mode always runs the rate engine.
"""

from __future__ import annotations

import warnings

_ENGINES = {}


class Engine:
    """Base class of the simulation engines.

    Parameters
    ----------
    network : SpikingNetwork
    dt : float
        Timestep, in seconds.
    precision : str
        One of the class's ``precisions``.
    max_chunk_elements : int
        Bound on the elements of one stage's activity for a chunk of steps
        (engines that batch time use it to keep memory flat in ``n_steps``).
    """

    name = None
    precisions = ("float32",)

    def __init__(self, network, *, dt, precision="float32", max_chunk_elements=2**24):
        self.network = network
        self.dt = dt
        self.precision = precision
        self.max_chunk_elements = max_chunk_elements

    def run_batch(self, minibatch, spec):
        """Run one `Minibatch` as ``spec`` says; returns a `RunResult`."""
        raise NotImplementedError


def register_engine(cls):
    """Class decorator: make ``cls`` available as ``Simulator(engine=cls.name)``."""
    if not (isinstance(cls, type) and issubclass(cls, Engine) and cls.name):
        raise TypeError(
            f"register_engine takes an Engine subclass with a `name`. Received: {cls!r}"
        )
    if cls.name in _ENGINES and _ENGINES[cls.name] is not cls:
        warnings.warn(
            f"register_engine: engine {cls.name!r} was registered already "
            f"({_ENGINES[cls.name].__name__}); {cls.__name__} replaces it.",
            stacklevel=2,
        )
    _ENGINES[cls.name] = cls
    return cls


def engine_names():
    """Names of the registered engines, in registration order."""
    return tuple(_ENGINES)


def engine_class(name):
    """The engine class registered as ``name``."""
    return _ENGINES[name]
