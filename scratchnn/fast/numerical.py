"""The textbook central-difference gradient of ``TwoLayerNet``, evaluated fast and exactly.

``numerical_loss_and_gradient`` reproduces ``TwoLayerNet.numerical_gradient`` (the book's
``scratchnn.gradient.numerical_gradient`` over every parameter) and ``TwoLayerNet.loss``.

Every partial derivative returned is ``(L(θ + h·e_k) − L(θ − h·e_k)) / (2h)`` for the very loss
``TwoLayerNet.loss`` computes and ``loss_and_gradient`` minimises, with the same ``h``::

    L = mean_n ℓ_n,   ℓ_n = logsumexp(a2_n) − a2_n[t_n],   a2 = act(x @ W1 + b1) @ W2 + b2.

Both perturbed losses of every parameter are evaluated: for each sample they can change, the
perturbed hidden activation, all C perturbed logits and their log-sum-exp. No derivative of
any layer is used (no backprop, chain rule or Taylor expansion). The speed comes only from
exact facts about which numbers a perturbation can change:

1. ``W1[i, j] ± h`` moves only ``a1[n, j]``, by ``±h·x[n, i]``. A sample with ``x[n, i] == 0``
   has a bit-identical forward pass, so its ``ℓ_n⁺ − ℓ_n⁻`` is exactly 0 and it is skipped.
   ``b1[j]`` is the same perturbation with an input of 1 (a column of ones).
2. The perturbed logits of sample n are ``a2[n] + (act(a1[n, j] ± h·x[n, i]) − z1[n, j])·W2[j]``:
   ``z1' @ W2 + b2`` with the H − 1 unchanged hidden terms kept as they were; ``act`` is the
   net's own hidden layer (``scratchnn.layers.ACTIVATIONS``).
3. For fixed (n, j) the perturbed loss depends on i only through the value ``x[n, i]``: pixels
   of equal value give identical perturbed losses, so each distinct (sample, value) pair is
   evaluated once and used for all its pixels (MNIST: ~150 non-zero pixels, ~70 values).
4. ``W2[j, k] ± h`` (``b2[k] ± h``) moves only logit k, by ``±h·z1[n, j]`` (``±h``); the other
   C − 1 exponentials of the log-sum-exp are unchanged and are summed once.
5. ``L⁺ − L⁻ = Σ_n (ℓ_n⁺ − ℓ_n⁻) / N`` is the same number, summed with less cancellation.

Log-sum-exp is shifted by the unperturbed row maximum (any shift gives the same value). The
perturbed losses therefore differ from re-running ``net.loss`` on perturbed parameters only by
floating-point rounding (~1e-16 relative, ~1e-12 absolute in a derivative), no more than the
rounding noise of the central difference itself (the step is exactly h, where the in-place
``θ ± h`` is rounded to a float: the same to ~1e-12 of h). The unperturbed forward pass uses
``einsum``, not BLAS, whose idle threads would spin and take a core from ours; the returned
loss equals ``net.loss(x, t)`` up to rounding. Work is vectorised in ~1 MiB chunks of
(sample, value) pairs and spread over threads, since NumPy ufuncs release the GIL. The
pieces live in ``scratchnn.fast.numerical_kernels``.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import numpy as np

from scratchnn.fast.numerical_kernels import (
    DistinctInputs,
    first_layer_diffs,
    forward,
    second_layer_diffs,
)
from scratchnn.functions import labels_of

CHUNK_ELEMENTS = 2**17  # perturbed logits per vectorised pass (float64: 1 MiB, ~L2)


def default_threads() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def numerical_loss_and_gradient(
    net: Any, x: np.ndarray, t: np.ndarray, h: float = 1e-4, *, n_threads: int | None = None
) -> tuple[float, dict[str, np.ndarray]]:
    """Loss and central-difference gradient of ``net.loss(x, t)``, exact and fast (float64).

    Parameters
    ----------
    net : TwoLayerNet
        Read only: ``params`` (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)) and ``activation``.
    x : ndarray, shape (N, D)
    t : ndarray, shape (N,) labels or (N, C) one-hot
    h : float, the step of the central difference
    n_threads : int, optional; default ``default_threads()``. Use 1 inside parallel sweeps.

    Returns
    -------
    loss : float, ``net.loss(x, t)`` at the current parameters (up to rounding)
    grads : dict of ndarray keyed W1, b1, W2, b2, shaped and typed like ``net.params``
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"x must be a non-empty (N, D) batch, got shape {x.shape}")
    loss, fw = forward(net, x, labels_of(t), h)
    pairs = DistinctInputs(np.hstack([x, np.ones((len(x), 1))]))
    n_hidden, n_classes = fw.W2T.shape[1], fw.W2T.shape[0]
    diffs = np.empty((len(pairs.rows), n_hidden))  # ℓ⁺ − ℓ⁻ per (sample, value) and unit
    size = max(1, CHUNK_ELEMENTS // (n_classes * n_hidden))  # pairs per vectorised pass
    chunks = [slice(s, s + size) for s in range(0, len(pairs.rows), size)]
    layer1 = np.zeros((x.shape[1] + 1, n_hidden))

    def first_layer(chunk: slice) -> None:
        diffs[chunk] = first_layer_diffs(fw, pairs.rows[chunk], pairs.vals[chunk])

    n_threads = default_threads() if n_threads is None else n_threads
    with ThreadPoolExecutor(max(1, n_threads)) as pool:
        layer2 = pool.submit(second_layer_diffs, fw)
        list(pool.map(first_layer, chunks))
        list(pool.map(partial(pairs.sum_by_column, diffs, layer1), pairs.split(16)))  # ~L2
        layer2 = layer2.result()
    scale = 1.0 / (len(x) * 2 * h)  # ((Σ_n ℓ_n⁺ − ℓ_n⁻) / N) / (2h)
    grads = {"W1": layer1[:-1], "b1": layer1[-1], "W2": layer2[:-1], "b2": layer2[-1]}
    return loss, {k: (g * scale).astype(net.params[k].dtype, copy=False) for k, g in grads.items()}
