"""A small NIR interpreter in numpy, written from the NIR specification.

It reads a ``nir.NIRGraph`` (the node classes' documented equations: nir 1.0,
``nir/ir/*.py``) and runs it in discrete time, in float64, without any of
rateconv's code, so the tests can check rateconv's export and simulator
against an independent reading of the graph.

The discretisation (step ``dt``), the one `rateconv.nir` documents:

- every node is evaluated once per step, in topological order, reading its
  inputs' values of the same step; several edges into a node sum;
- a node's input is held constant over the step; a spike is a Dirac delta of
  area 1, so ``n`` spikes in a step are the value ``n / dt``;
- ``LI``: ``tau dv/dt = v_leak - v + r I`` solved exactly over the step;
- ``IF``: ``dv/dt = r I`` solved exactly, resetting to ``v_reset`` at every
  crossing of ``v_threshold`` inside the step (so several spikes per step);
- ``LIF``: ``tau dv/dt = v_leak - v + r I`` solved exactly over the step; a
  spike when ``v > v_threshold`` at its end, then ``v = v_reset``.

Tensors are NIR's: channels first, with a leading batch axis here.
"""

import numpy as np


def _pad2(value):
    return tuple(int(v) for v in np.broadcast_to(np.asarray(value), (2,)))


def conv2d(x, weight, bias, stride, padding, dilation, groups):
    """PyTorch-style 2D cross-correlation of ``x`` (B, Cin, H, W)."""
    if isinstance(padding, str):
        padding = (0, 0) if padding == "valid" else None
    weight = np.asarray(weight, np.float64)
    c_out, c_in_g, kh, kw = weight.shape
    (sh, sw), (dh, dw) = _pad2(stride), _pad2(dilation)
    if padding is None:  # "same", stride 1
        total = ((kh - 1) * dh, (kw - 1) * dw)
        pads = [(t // 2, t - t // 2) for t in total]
    else:
        pads = [(p, p) for p in _pad2(padding)]
    x = np.pad(x, ((0, 0), (0, 0), pads[0], pads[1]))
    b, c_in, h, w = x.shape
    h_out = (h - (kh - 1) * dh - 1) // sh + 1
    w_out = (w - (kw - 1) * dw - 1) // sw + 1
    g = int(groups)
    xg = x.reshape(b, g, c_in // g, h, w)
    wg = weight.reshape(g, c_out // g, c_in_g, kh, kw)
    out = np.zeros((b, g, c_out // g, h_out, w_out))
    for i in range(kh):
        for j in range(kw):
            patch = xg[
                :,
                :,
                :,
                i * dh : i * dh + sh * (h_out - 1) + 1 : sh,
                j * dw : j * dw + sw * (w_out - 1) + 1 : sw,
            ]
            out += np.einsum("bgchw,goc->bgohw", patch, wg[:, :, :, i, j])
    out = out.reshape(b, c_out, h_out, w_out)
    if bias is not None:
        out += np.asarray(bias, np.float64).reshape(1, -1, 1, 1)
    return out


def pool2d(x, kernel, stride, padding, mean):
    (kh, kw), (sh, sw), (ph, pw) = _pad2(kernel), _pad2(stride), _pad2(padding)
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    h_out = (x.shape[2] - kh) // sh + 1
    w_out = (x.shape[3] - kw) // sw + 1
    out = np.zeros(x.shape[:2] + (h_out, w_out))
    for i in range(kh):
        for j in range(kw):
            out += x[
                :,
                :,
                i : i + sh * (h_out - 1) + 1 : sh,
                j : j + sw * (w_out - 1) + 1 : sw,
            ]
    return out / (kh * kw) if mean else out


def _order(graph):
    preds = {n: [s for s, d in graph.edges if d == n] for n in graph.nodes}
    order, done = [], set()
    while len(order) < len(graph.nodes):
        for n in graph.nodes:
            if n not in done and all(p in done for p in preds[n]):
                order.append(n)
                done.add(n)
    return order, preds


def run(graph, inputs, n_steps, dt=0.001):
    """Run ``graph`` for ``n_steps`` on constant ``inputs``.

    Parameters
    ----------
    graph : nir.NIRGraph
    inputs : dict or array
        ``{input node: array (B, *shape)}``, or one array for a one-input graph.
    n_steps : int
    dt : float

    Returns
    -------
    values : dict
        ``{node: array (B, n_steps, *shape)}``: every node's output at every
        step (spiking nodes: ``n / dt``).
    counts : dict
        ``{spiking node: array (B, n_steps, *shape)}`` of spike counts.
    """
    import nir

    order, preds = _order(graph)
    if not isinstance(inputs, dict):
        (name,) = [n for n, v in graph.nodes.items() if isinstance(v, nir.Input)]
        inputs = {name: inputs}
    state = {}
    values = {n: [] for n in graph.nodes}
    counts = {}
    for _ in range(n_steps):
        now = {}
        for name in order:
            node = graph.nodes[name]
            if isinstance(node, nir.Input):
                out = np.asarray(inputs[name], np.float64)
            else:
                x = sum(now[p] for p in preds[name])
                out = _step(node, name, x, state, counts, dt)
            now[name] = out
            values[name].append(out)
    stacked = {n: np.stack(v, axis=1) for n, v in values.items()}
    return stacked, {n: np.stack(c, axis=1) for n, c in counts.items()}


def _step(node, name, x, state, counts, dt):
    import nir

    p = {
        k: np.asarray(v, np.float64)
        for k, v in vars(node).items()
        if isinstance(v, (np.ndarray, float, int)) and not isinstance(v, bool)
    }
    if isinstance(node, nir.Output):
        return x
    if isinstance(node, nir.Affine):
        return x @ p["weight"].T + p["bias"]
    if isinstance(node, nir.Linear):
        return x @ p["weight"].T
    if isinstance(node, nir.Scale):
        return x * p["scale"]
    if isinstance(node, nir.Conv2d):
        return conv2d(
            x,
            node.weight,
            node.bias,
            node.stride,
            node.padding,
            node.dilation,
            node.groups,
        )
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        return pool2d(
            x,
            node.kernel_size,
            node.stride,
            node.padding,
            mean=isinstance(node, nir.AvgPool2d),
        )
    if isinstance(node, nir.Flatten):
        shape = x.shape[1:]
        start = node.start_dim % len(shape)
        end = node.end_dim % len(shape)
        new = shape[:start] + (int(np.prod(shape[start : end + 1])),) + shape[end + 1 :]
        return x.reshape((x.shape[0],) + new)
    if isinstance(node, nir.LI):
        v = state.get(name, np.zeros_like(x))
        a = np.exp(-dt / p["tau"])
        v = a * v + (1 - a) * (p["v_leak"] + p["r"] * x)
        state[name] = v
        return v
    if isinstance(node, nir.IF):
        v = state.get(name, np.zeros_like(x)) + p["r"] * x * dt
        theta, reset = p["v_threshold"], p["v_reset"]
        n = np.where(v > theta, np.floor((v - reset) / (theta - reset)), 0.0)
        v = v - n * (theta - reset)
        state[name] = v
        counts.setdefault(name, []).append(n)
        return n / dt
    if isinstance(node, nir.LIF):
        v = state.get(name, np.zeros_like(x))
        j = p["v_leak"] + p["r"] * x
        v = j + (v - j) * np.exp(-dt / p["tau"])
        spiked = v > p["v_threshold"]
        v = np.where(spiked, p["v_reset"], v)
        state[name] = v
        n = spiked.astype(np.float64)
        counts.setdefault(name, []).append(n)
        return n / dt
    raise NotImplementedError(f"node {name}: {type(node).__name__}")
