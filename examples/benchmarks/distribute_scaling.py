"""Throughput of a spiking evaluation on one device and on tf.distribute.

Times ``Simulator.evaluate`` of the shipped network (its conversion options)
on the shipped Fashion-MNIST sample, warm (each configuration runs once to
compile, then is timed), and checks the errors equal the one-device run's:

    python examples/benchmarks/distribute_scaling.py --logical-devices 2
        # one device, then MirroredStrategy over 1..N logical CPU devices
    python examples/benchmarks/distribute_scaling.py --workers 2
        # MultiWorkerMirroredStrategy: N processes on localhost ports
    python examples/benchmarks/distribute_scaling.py --gpus
        # one GPU, then MirroredStrategy over every GPU

Logical CPU devices share the machine's cores, so they show the overhead of
a distributed run, not a speed-up; several GPUs or machines are what scale.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import time


def _setup(n_logical):
    import tensorflow as tf

    if n_logical:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * n_logical
        )
    return tf


def _timed(args, strategy):
    """``(image-steps per second, per-step errors)`` of a warm evaluation."""
    import rateconv
    from rateconv import datasets
    from rateconv.zoo import pretrained
    from rateconv.zoo.models import prepare_images

    x, y = datasets.load_fashion_mnist_sample()
    x, y = prepare_images(x[: args.n_images]), y[: args.n_images]
    net = rateconv.convert(
        pretrained.load_pretrained(), **pretrained.conversion_options()
    )
    sim = rateconv.Simulator(
        net, minibatch_size=args.minibatch_size, progress=False, strategy=strategy
    )
    sim.evaluate(x, y, n_steps=args.n_steps)  # compile
    start = time.perf_counter()
    ev = sim.evaluate(x, y, n_steps=args.n_steps)
    seconds = time.perf_counter() - start
    return len(x) * args.n_steps / seconds, [float(e) for e in ev.errors]


def _report(name, speed, errors, reference):
    same = "identical" if errors == reference else "DIFFERENT"
    print(f"{name:<28} {speed:8.0f} image-steps/s   errors {same}", flush=True)


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _workers(args):
    """Launch ``args.workers`` copies of this script as a cluster; report."""
    hosts = [f"localhost:{p}" for p in _free_ports(args.workers)]
    common = [sys.executable, __file__, "--n-images", str(args.n_images)]
    common += ["--n-steps", str(args.n_steps), "--minibatch-size"]
    common += [str(args.minibatch_size), "--worker-of", str(args.workers)]
    processes = []
    for i in range(args.workers):
        config = {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}}
        env = dict(os.environ, TF_CONFIG=json.dumps(config), TF_CPP_MIN_LOG_LEVEL="2")
        processes.append(
            subprocess.Popen(common, env=env, stdout=subprocess.PIPE, text=True)
        )
    outputs = [p.communicate(timeout=1800)[0] for p in processes]
    return json.loads(outputs[0].strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logical-devices", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--gpus", action="store_true")
    parser.add_argument("--worker-of", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--n-images", type=int, default=200)
    parser.add_argument("--n-steps", type=int, default=10)
    parser.add_argument("--minibatch-size", type=int, default=50)
    args = parser.parse_args()
    if args.worker_of:  # one process of a --workers cluster
        tf = _setup(0)
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        speed, errors = _timed(args, strategy)
        print(json.dumps({"speed": speed, "errors": errors}))
        return
    if args.workers:
        one_process = subprocess.run(
            [sys.executable, __file__, "--n-images", str(args.n_images),
             "--n-steps", str(args.n_steps), "--minibatch-size",
             str(args.minibatch_size), "--logical-devices", "0"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        print(one_process.stdout.strip().splitlines()[0])
        reference = json.loads(one_process.stdout.strip().splitlines()[-1])
        result = _workers(args)
        _report(
            f"{args.workers} worker processes",
            result["speed"],
            result["errors"],
            reference,
        )
        return
    tf = _setup(args.logical_devices)
    speed, reference = _timed(args, None)
    _report("one device (no strategy)", speed, reference, reference)
    kind = "gpu" if args.gpus else "cpu"
    n = len(tf.config.list_logical_devices(kind.upper()))
    counts = [1, n] if args.gpus else range(1, n + 1)
    for k in counts if args.gpus or args.logical_devices else ():
        strategy = tf.distribute.MirroredStrategy([f"/{kind}:{i}" for i in range(k)])
        speed, errors = _timed(args, strategy)
        _report(f"MirroredStrategy, {k} {kind.upper()}", speed, errors, reference)
    print(json.dumps(reference))


if __name__ == "__main__":
    main()
