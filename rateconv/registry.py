"""The converter registry: which function turns which Keras layer into a stage.

Every supported layer class maps to one converter function, registered beside
the class it converts (`register_converter`).  The error for an unsupported
layer, `supported_layers` and the tests all read this one registry.
"""

from __future__ import annotations

import dataclasses
import types
import warnings
from collections.abc import Mapping

from rateconv.neurons import NeuronType

_REGISTRY = {}

CONVERTER_FIELDS = (
    "op",
    "rate_neuron",
    "spiking_neuron",
    "readout",
    "spiking_max_pool",
    "initial_state",
)
"""The `rateconv.Stage` fields a converter may return (see `register_converter`)."""


def register_converter(*layer_classes):
    """Register ``fn(layer, ctx) -> dict`` as the converter of ``layer_classes``.

    Use it as a decorator, next to the layer class it converts.  `convert`
    calls the converter once for every call of a layer of exactly that class
    in the model (classes match exactly, not by inheritance: a subclass may
    compute something else, so it needs its own converter) and builds one
    `rateconv.Stage` from what it returns.  A layer called several times (a
    shared layer) makes one stage per call, and the layers of a nested model
    are converted as if they were the outer model's (see `convert`).

    The contract of a converter:

    - It receives the Keras ``layer`` (built, with its trained weights; do
      not modify it) and ``ctx``, a `ConversionContext` with the conversion
      options a converter may need: ``ctx.swapped(layer, *names)`` (the
      neuron ``swap_activations`` asks for, or None), ``ctx.max_to_avg_pool``,
      ``ctx.is_output(layer)`` (whether the stage is a model output) and
      ``ctx.stage_name``.
    - It returns a dict of `rateconv.Stage` fields, any of ``op``,
      ``rate_neuron``, ``spiking_neuron``, ``readout``, ``spiking_max_pool``
      and ``initial_state``; missing keys keep the `rateconv.Stage` defaults
      (``op=None``, no neuron, ``initial_state="zero"``).  The name, kind,
      inputs and output shape come from the layer; the synapse, ``reset``,
      ``initial_state`` and ``scale_firing_rates`` options of `convert` are
      applied afterwards to every stage with a spiking neuron.
    - ``op`` is called as ``op(*tensors)`` on batch-first tensors, one per
      input of the layer, with time folded into the batch: it must treat the
      samples of a batch independently.  Usually it is the layer itself (or a
      copy without its activation, see `clone_layer`).  For a correct spiking
      network it must be linear or affine in its inputs: everything nonlinear
      belongs in the neurons.
    - ``rate_neuron`` and ``spiking_neuron`` are the `rateconv.NeuronType`
      applied after ``op`` in rate and in spiking mode; `neuron_fields` makes
      both from one neuron.  ``readout`` is a function applied to an output
      stage's filtered probe instead (e.g. a softmax).
    - A converter returning ``op=None`` and no neuron makes the layer an
      identity: it vanishes from the network and its readers read its input
      (how ``Dropout`` converts).
    - It raises ``ValueError`` (or ``TypeError``) naming the layer when the
      layer's configuration has no spiking equivalent.

    Registering a class that already has a converter replaces it, with a
    ``UserWarning``; `unregister_converter` removes a registration.

    Parameters
    ----------
    *layer_classes : type
        Keras layer classes the decorated function converts.

    Returns
    -------
    callable
        A decorator that registers the function and returns it unchanged.

    Raises
    ------
    TypeError
        If no class is given or one of them is not a class.

    Examples
    --------
    A custom layer that scales its input by a constant is linear, so the
    converted stage runs the layer itself and has no neuron:

    >>> import keras
    >>> import numpy as np
    >>> import rateconv
    >>> class Scale(keras.layers.Layer):
    ...     def __init__(self, factor=2.0, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.factor = factor
    ...
    ...     def call(self, x):
    ...         return x * self.factor
    ...
    ...     def get_config(self):
    ...         return {**super().get_config(), "factor": self.factor}
    >>> @rateconv.register_converter(Scale)
    ... def convert_scale(layer, ctx):
    ...     return {"op": layer}
    >>> model = keras.Sequential(
    ...     [
    ...         keras.Input((4,)),
    ...         keras.layers.Dense(8, activation="relu"),
    ...         Scale(0.5, name="half"),
    ...         keras.layers.Dense(2),
    ...     ]
    ... )
    >>> net = rateconv.convert(model)
    >>> net["half"].kind, net["half"].spiking_neuron
    ('Scale', None)
    >>> x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    >>> rateconv.Converter(model).verify(x)
    True

    An activation layer converts to neurons instead: ``op=None`` and the
    neuron that replaces it, which ``swap_activations`` may override (by the
    layer's name or by the key the converter offers, here ``"my_relu"``):

    >>> class MyReLU(keras.layers.Layer):
    ...     def call(self, x):
    ...         return keras.ops.relu(x)
    >>> @rateconv.register_converter(MyReLU)
    ... def convert_my_relu(layer, ctx):
    ...     neuron = ctx.swapped(layer, "my_relu") or rateconv.RectifiedLinear()
    ...     return rateconv.converter.neuron_fields(neuron)
    >>> model = keras.Sequential(
    ...     [keras.Input((4,)), keras.layers.Dense(3), MyReLU(name="act")]
    ... )
    >>> type(rateconv.convert(model)["act"].spiking_neuron).__name__
    'SpikingRectifiedLinear'
    >>> net = rateconv.convert(model, swap_activations={"my_relu": rateconv.LIF()})
    >>> type(net["act"].spiking_neuron).__name__
    'LIF'
    >>> rateconv.converter.unregister_converter(Scale, MyReLU)
    """
    if not layer_classes:
        raise TypeError(
            "register_converter needs the layer classes it converts, e.g. "
            "@register_converter(MyLayer). Received: no classes"
        )
    for cls in layer_classes:
        if not isinstance(cls, type):
            raise TypeError(
                "register_converter takes layer classes. Received: "
                f"{cls!r} of type {type(cls).__name__}"
            )

    def decorator(fn):
        for cls in layer_classes:
            old = _REGISTRY.get(cls)
            if old is not None and old is not fn:
                warnings.warn(
                    f"register_converter replaces the converter of "
                    f"{cls.__name__} ({_describe(old)}) by {_describe(fn)}; "
                    "unregister_converter first to silence this.",
                    UserWarning,
                    stacklevel=2,
                )
            _REGISTRY[cls] = fn
        return fn

    return decorator


def _describe(fn):
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', fn)}"


def unregister_converter(*layer_classes):
    """Remove the converters of ``layer_classes`` from the registry.

    Parameters
    ----------
    *layer_classes : type
        Classes registered with `register_converter`.

    Raises
    ------
    ValueError
        If one of them has no converter (then none is removed).

    Examples
    --------
    >>> import keras, rateconv
    >>> class MyIdentity(keras.layers.Layer):
    ...     def call(self, x):
    ...         return x
    >>> @rateconv.register_converter(MyIdentity)
    ... def convert_my_identity(layer, ctx):
    ...     return {"op": None}
    >>> "MyIdentity" in rateconv.supported_layers()
    True
    >>> rateconv.unregister_converter(MyIdentity)
    >>> "MyIdentity" in rateconv.supported_layers()
    False
    """
    missing = [cls for cls in layer_classes if cls not in _REGISTRY]
    if missing:
        names = [getattr(cls, "__name__", repr(cls)) for cls in missing]
        raise ValueError(
            f"unregister_converter: {names} have no registered converter. "
            f"Registered: {supported_layers()}"
        )
    for cls in layer_classes:
        del _REGISTRY[cls]


def converter_for(layer_class):
    """The converter registered for ``layer_class`` (exact class), or None."""
    return _REGISTRY.get(layer_class)


def supported_layers():
    """Names of the Keras layer classes the converter knows, sorted.

    Examples
    --------
    >>> import rateconv
    >>> "Conv2D" in rateconv.supported_layers()
    True
    """
    return sorted(cls.__name__ for cls in _REGISTRY)


def neuron_fields(neuron, **extra):
    """The stage fields of an activation converted to ``neuron``.

    Parameters
    ----------
    neuron : rateconv.NeuronType
        Rate or spiking; the stage gets both forms.
    **extra
        Further stage fields, e.g. ``initial_state="half"``.

    Returns
    -------
    dict
        ``{"rate_neuron": neuron.as_rate(), "spiking_neuron":
        neuron.as_spiking(), **extra}``: what an activation-layer converter
        returns (``op`` stays None).
    """
    return {
        "rate_neuron": neuron.as_rate(),
        "spiking_neuron": neuron.as_spiking(),
        **extra,
    }


@dataclasses.dataclass(frozen=True)
class ConversionContext:
    """The conversion options a converter sees (its ``ctx`` argument).

    ``ConversionContext()`` holds the defaults: no swaps, max pooling kept,
    no known model outputs.

    Attributes
    ----------
    swap_activations : mapping
        ``convert``'s ``swap_activations``: an activation name (``"relu"``,
        ``"softlif"``, ...) or a layer name -> `rateconv.NeuronType`.  Read it
        through `swapped`.
    max_to_avg_pool : bool
        Whether max pooling becomes average pooling.
    model_outputs : frozenset of str
        Names of the model's output stages (a softmax is accepted there only;
        test with `is_output`).
    stage_name : str or None
        The name of the stage being made: the layer's name, or for a layer of
        a nested model or a shared layer's call, its path (``"inner/dense"``,
        ``"dense/1"``); None outside a conversion.

    The context records the keys `swapped` looked up and those it found
    (shared by the copies `with_swap` makes), so that `convert` can refuse
    ``swap_activations`` keys that no layer used (see `unused_swaps`).
    """

    swap_activations: Mapping = dataclasses.field(default_factory=dict)
    max_to_avg_pool: bool = False
    model_outputs: frozenset = frozenset()
    stage_name: str | None = None
    # {"layers": [...], "names": [...], "used": set()}: what swapped() saw
    _lookups: dict = dataclasses.field(
        default_factory=lambda: {"layers": [], "names": [], "used": set()},
        repr=False,
        compare=False,
    )

    def __post_init__(self):
        # a read-only copy: a context never changes once made
        swaps = types.MappingProxyType(dict(self.swap_activations))
        object.__setattr__(self, "swap_activations", swaps)
        object.__setattr__(self, "model_outputs", frozenset(self.model_outputs))

    def swapped(self, layer, *names):
        """The neuron ``swap_activations`` puts in place of ``layer``, or None.

        The stage's name is looked up first (see ``stage_name``), then the
        layer's, then each of ``names`` in order (the activation names the
        converter answers to, e.g. ``"relu"``).

        Parameters
        ----------
        layer : keras.layers.Layer
        *names : str

        Returns
        -------
        rateconv.NeuronType or None

        Raises
        ------
        TypeError
            If the mapped value is not a `rateconv.NeuronType`.
        """
        lookups = self._lookups
        layer_keys = [k for k in (self.stage_name, layer.name) if k is not None]
        for seen, keys in (("layers", layer_keys), ("names", names)):
            for key in keys:
                if key not in lookups[seen]:
                    lookups[seen].append(key)
        for key in dict.fromkeys((*layer_keys, *names)):
            if key in self.swap_activations:
                lookups["used"].add(key)
                neuron = self.swap_activations[key]
                if not isinstance(neuron, NeuronType):
                    raise TypeError(
                        "swap_activations values must be rateconv neuron types "
                        "(e.g. rateconv.LIF(), rateconv.SpikingRectifiedLinear()). "
                        f"Received: swap_activations[{key!r}]={neuron!r} for "
                        f"layer '{layer.name}'"
                    )
                return neuron
        return None

    def is_output(self, layer):
        """Whether the stage made of ``layer`` is an output of the model."""
        name = self.stage_name if self.stage_name is not None else layer.name
        return name in self.model_outputs

    def with_swap(self, name, neuron):
        """A copy with ``swap_activations[name] = neuron`` added.

        The copy records its look-ups in this context's record.
        """
        swaps = {**self.swap_activations, name: neuron}
        return dataclasses.replace(self, swap_activations=swaps)

    def unused_swaps(self):
        """The ``swap_activations`` keys no `swapped` call has used, sorted."""
        return sorted(set(self.swap_activations) - self._lookups["used"])

    def check_swaps_used(self):
        """Raise ``ValueError`` if a ``swap_activations`` key was never used.

        Call it after every layer has been converted: a key no converter
        asked for (a misspelled layer or activation name) would otherwise
        silently leave the layer as it was.  The message lists the keys that
        could have been used: the layer names and activation names that
        `swapped` looked up.
        """
        unused = self.unused_swaps()
        if unused:
            raise ValueError(
                f"swap_activations keys {unused} match no layer or activation of "
                f"the model. Keys may be the layer names {self._lookups['layers']} "
                f"or the activation names {self._lookups['names']}."
            )


__all__ = [
    "CONVERTER_FIELDS",
    "ConversionContext",
    "converter_for",
    "neuron_fields",
    "register_converter",
    "supported_layers",
    "unregister_converter",
]
