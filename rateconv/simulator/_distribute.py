"""Runs on a `tf.distribute` strategy, with the results of one device.

`run_distributed` is `run_minibatches` spread over the replicas of a
``MirroredStrategy`` (several devices of one machine), a
``MultiWorkerMirroredStrategy`` (several processes or machines, from
``TF_CONFIG``) or a ``OneDeviceStrategy``.

**How the work is split.**  The minibatches are the ones a run on one device
with the same ``minibatch_size`` cuts (`Source.minibatches`), taken
``num_replicas_in_sync`` at a time: in each round, replica ``r`` runs the
round's ``r``-th minibatch whole, with the engine's own compiled graphs
(``strategy.run``, which in eager mode calls the replica function in one
thread per local device, under that device's scope).  Each replica thus
computes exactly what one device computes for that minibatch -- same batch
shape, same sample positions, same per-sample random streams
(`rateconv.simulator._random`, keyed by the sample's global index) -- so the
result is identical bit for bit, on any number of replicas, even where a
kernel's rounding depended on the batch shape.  Splitting each minibatch
across replicas instead would change the batch each kernel sees.
``minibatch_size`` is therefore per replica, as in tf.distribute's "per-replica
batch size": a round simulates ``minibatch_size x replicas`` samples.  The
last round is padded with empty minibatches (every sample masked), which
replicas run and the gather drops.

**How results come back.**  Each replica packs its minibatch's result
(outputs, probed layers, spike counts) into one float32 vector; the driver
gathers the vectors (``strategy.gather``: an all-gather across workers, so
every worker gets the whole result; local results alone on one machine) and
adds the minibatches' results in run order, so spike counts, per-step errors
and firing rates are summed in the same order as on one device.

**Inputs.**  Every worker iterates the same `Source` (arrays, a
``tf.data.Dataset`` or a generator) and simulates only its replicas'
minibatches: tf.distribute's ``AutoShardPolicy.DATA`` sharding, which keeps
each sample's global index (what its random draws depend on).  Reading the
data is cheap next to simulating it.

Without a strategy `Simulator` never enters this module: the one-device path
is `run_minibatches`, unchanged.
"""

from __future__ import annotations

import contextlib
import logging
import weakref

import numpy as np
import tensorflow as tf

from rateconv.simulator._inputs import Minibatch
from rateconv.simulator._run import (
    Accumulator,
    RunResult,
    describe,
    progress_bar,
    samples_per_minibatch,
)

STRATEGIES = (
    tf.distribute.MirroredStrategy,
    tf.distribute.MultiWorkerMirroredStrategy,
    tf.distribute.OneDeviceStrategy,
)
"""The `tf.distribute` strategies `Simulator` runs on."""


def check_strategy(strategy):
    """``strategy`` if the simulator can run on it (None: no strategy)."""
    if strategy is None:
        return None
    if not isinstance(strategy, STRATEGIES):
        names = ", ".join(f"tf.distribute.{s.__name__}" for s in STRATEGIES)
        raise TypeError(
            f"strategy must be one of {names}, or None for one device. "
            f"Received: strategy={type(strategy).__name__}"
        )
    return strategy


def is_chief(strategy):
    """Whether this process is the first worker (the one that reports)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    return resolver.task_type in ("chief", None) or (
        resolver.task_type == "worker"
        and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict()
    )


def _rounds(minibatches, n_replicas, size):
    """Lists of ``n_replicas`` minibatches; the last padded with empty ones."""
    group = []
    for minibatch in minibatches:
        group.append(minibatch)
        if len(group) == n_replicas:
            yield group
            group = []
    if group:
        last = group[-1]
        empty = [np.zeros_like(a) for a in last.inputs]
        while len(group) < n_replicas:
            start = group[-1].start + size
            group.append(Minibatch(empty, start, 0, None))
        yield group


def _pack(result):
    """A minibatch's `RunResult` as one float32 vector, and how to unpack it."""
    pieces = [("outputs", i, o) for i, o in enumerate(result.outputs)]
    pieces += [("layers", k, v) for k, v in result.layers.items()]
    pieces += [("counts", k, c) for k, c in result.counts.items()]
    pieces += [("peaks", k, np.float32(p)) for k, p in result.peaks.items()]
    arrays = [np.asarray(a) for _, _, a in pieces]
    layout = [(k, key, a.shape, a.dtype) for (k, key, _), a in zip(pieces, arrays)]
    flat = np.concatenate(
        [np.zeros(0, np.float32)] + [a.astype(np.float32).ravel() for a in arrays]
    )
    return flat, layout


def _unpack(flat, layout):
    outputs, layers, counts, peaks = {}, {}, {}, {}
    where = {"outputs": outputs, "layers": layers, "counts": counts, "peaks": peaks}
    offset = 0
    for kind, key, shape, dtype in layout:
        n = int(np.prod(shape))
        where[kind][key] = flat[offset : offset + n].reshape(shape).astype(dtype)
        offset += n
    return RunResult(
        outputs=[outputs[i] for i in sorted(outputs)],
        layers=layers,
        counts=counts,
        peaks={k: float(v) for k, v in peaks.items()},
    )


# engine -> {replica index: its own copy}: each replica's device traces and
# caches its own graphs, and no two threads share an engine's caches
_REPLICA_ENGINES = weakref.WeakKeyDictionary()


def _replica_engine(engine, index):
    copies = _REPLICA_ENGINES.setdefault(engine, {})
    if index not in copies:
        copies[index] = type(engine)(
            engine.network,
            dt=engine.dt,
            precision=engine.precision,
            max_chunk_elements=engine.max_chunk_elements,
        )
    return copies[index]


class _ExpectedNotices(logging.Filter):
    """Drops TensorFlow's notices that a distributed run causes by design.

    ``strategy.run`` outside a `tf.function` (each replica runs Python: the
    engine's loop over chunks) is what the notice on eager overhead is about,
    and each replica's device traces the engine's graphs once more, which the
    retracing notice counts; neither is a problem here.
    """

    NOTICES = ("eagerly has significant overhead", "triggered tf.function retracing")

    def filter(self, record):
        message = record.getMessage()
        return not any(n in message for n in self.NOTICES)


@contextlib.contextmanager
def _quiet():
    logger, notices = tf.get_logger(), _ExpectedNotices()
    logger.addFilter(notices)
    try:
        yield
    finally:
        logger.removeFilter(notices)


def _run_round(engine, spec, strategy, group):
    """Each replica runs its minibatch of ``group``; returns their RunResults."""
    layouts = {}

    # plain Python (numpy, the engine's own tf.functions): autograph stays out
    @tf.autograph.experimental.do_not_convert
    def replica(*_):
        context = tf.distribute.get_replica_context()
        index = int(tf.get_static_value(context.replica_id_in_sync_group))
        result = _replica_engine(engine, index).run_batch(group[index], spec)
        flat, layouts[index] = _pack(result)
        return tf.constant(flat)

    per_replica = strategy.run(replica)
    local = strategy.experimental_local_results(per_replica)
    if len(local) == strategy.num_replicas_in_sync:
        flats = [t.numpy() for t in local]
    else:  # several workers: all-gather, replica after replica
        flats = np.split(strategy.gather(per_replica, axis=0).numpy(), len(group))
    # every replica's result has the same layout (the same minibatch shape)
    layout = next(iter(layouts.values()))
    return [_unpack(f, layout) for f in flats]


def run_distributed(
    engine,
    source,
    spec,
    strategy,
    *,
    minibatch_size,
    progress,
    on_batch=None,
    keep_outputs=True,
    description=None,
):
    """`run_minibatches` on the replicas of ``strategy``; the same RunResult.

    Parameters
    ----------
    engine, source, spec, on_batch, keep_outputs, description
        As in `run_minibatches`.
    strategy : tf.distribute.Strategy
        One of `STRATEGIES`.
    minibatch_size : int or None
        Samples per minibatch and replica (None: up to 200).
    progress : bool or None
        As in `run_minibatches`, shown by the chief worker only.
    """
    size = samples_per_minibatch(source, minibatch_size)
    show = progress if is_chief(strategy) else False
    bar = progress_bar(show, source.n_samples, size, description or describe(spec))
    gathered = Accumulator(
        engine.network, spec, on_batch=on_batch, keep_outputs=keep_outputs
    )
    n_replicas = strategy.num_replicas_in_sync
    try:
        with _quiet():
            for group in _rounds(source.minibatches(size), n_replicas, size):
                results = _run_round(engine, spec, strategy, group)
                for minibatch, result in zip(group, results):
                    if minibatch.n_valid:
                        gathered.add(result, minibatch)
                        if bar is not None:
                            bar.update(minibatch.n_valid)
    finally:
        if bar is not None:
            bar.close()
    return gathered.result()
