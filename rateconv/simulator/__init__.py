"""Run a `SpikingNetwork` over ``n_steps`` timesteps, or in rate mode.

`Simulator` is the facade; the work is done by engines, one class each:

* ``"time_batched"`` (default, `TimeBatchedEngine`): each stage's linear
  operation runs once over a whole chunk of timesteps (time folded into the
  batch), and only the elementwise neuron and synapse updates loop over time,
  compiled with XLA.  Stages whose inputs are constant over time are computed
  once per minibatch.  ``precision="int8"`` runs the layers that read
  whole spikes as exact integer sums with int8 weights
  (`rateconv.simulator._integer`), ``precision="bfloat16"`` in bfloat16.
* ``"step"`` (`StepEngine`): the plain reference, which runs the whole network
  once per timestep.  Tests use it to cross-check the other engines.

A run is described by a frozen `RunSpec` and returns a `RunResult`; the
minibatch loop (`run_minibatches`) is shared by every engine.  After a
spiking run the simulator warns (`ActivityWarning`) about silent and
saturated layers, from the spike counts the engines carry.  An engine is a
new module with an `Engine` subclass decorated with `register_engine`.
`set_fused_kernels` turns the fused CPU neuron kernels on or off, and
`set_int8_kernels` the int8 instructions of the integer layers (benchmarks
time both; neither changes a result).

May import: ``converter`` and everything below it (``neurons``, ``synapses``,
``network``, ``metrics``, ``registry``); the tuning, NIR, reading and CLI
layers import the simulator, never the other way.
"""

from rateconv.simulator._activity import ActivityWarning
from rateconv.simulator._engines import (
    Engine,
    engine_class,
    engine_names,
    register_engine,
)
from rateconv.simulator._fused import HAVE_NUMBA as FUSED_KERNELS_INSTALLED
from rateconv.simulator._fused import available as fused_kernels_available
from rateconv.simulator._fused import set_enabled as set_fused_kernels
from rateconv.simulator._inputs import Minibatch, Source, as_source
from rateconv.simulator._integer import int8_kernels, set_int8_kernels
from rateconv.simulator._precision import auto_precision, cpu_flags
from rateconv.simulator._rate import RateEngine, forward_graph
from rateconv.simulator._run import (
    COUNT_MODES,
    ENCODINGS,
    LATENCY_THRESHOLD,
    MODES,
    SAMPLED_ROWS,
    RunResult,
    RunSpec,
    initial_voltage,
    latency_steps,
    run_minibatches,
)
from rateconv.simulator._simulator import PRECISIONS, Simulator
from rateconv.simulator._step import StepEngine
from rateconv.simulator._time_batched import MAX_CHUNK_STEPS, TimeBatchedEngine

ENGINES = engine_names()
"""Names of the built-in engines."""

__all__ = [
    "COUNT_MODES",
    "ENCODINGS",
    "ENGINES",
    "FUSED_KERNELS_INSTALLED",
    "LATENCY_THRESHOLD",
    "MAX_CHUNK_STEPS",
    "MODES",
    "PRECISIONS",
    "SAMPLED_ROWS",
    "ActivityWarning",
    "Engine",
    "Minibatch",
    "RateEngine",
    "RunResult",
    "RunSpec",
    "Simulator",
    "Source",
    "StepEngine",
    "TimeBatchedEngine",
    "as_source",
    "auto_precision",
    "cpu_flags",
    "int8_kernels",
    "set_int8_kernels",
    "engine_class",
    "engine_names",
    "forward_graph",
    "fused_kernels_available",
    "latency_steps",
    "initial_voltage",
    "register_engine",
    "run_minibatches",
    "set_fused_kernels",
]
