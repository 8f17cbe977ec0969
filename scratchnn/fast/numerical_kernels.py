"""The pieces of ``scratchnn.fast.numerical``: the unperturbed pass, the perturbed losses, and
the (sample, value) pairs that a ``W1`` perturbation moves. Why each shortcut is exact is
explained in ``scratchnn.fast.numerical``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from scratchnn.layers import ACTIVATIONS, softmax_cross_entropy


@dataclass(frozen=True)
class Forward:
    """The unperturbed pass: a1, z1 (N, H); a2s = a2 − row max (N, C); W2T = W2.T (C, H);
    ``activation``, the name of the hidden layer in ``scratchnn.layers.ACTIVATIONS``."""

    a1: np.ndarray
    z1: np.ndarray
    a2s: np.ndarray
    labels: np.ndarray
    W2T: np.ndarray
    h: float
    activation: str

    def hidden_change(self, rows: np.ndarray, step: np.ndarray) -> np.ndarray:
        """act(a1[rows] + step) − act(a1[rows]), shape (B, H); rows (B,), step (B, 1)."""
        return ACTIVATIONS[self.activation]().forward(self.a1[rows] + step) - self.z1[rows]


def forward(net: Any, x: np.ndarray, labels: np.ndarray, h: float) -> tuple[float, Forward]:
    """Loss and unperturbed pass of ``net`` on x (N, D), labels (N,), in float64."""
    p = {key: np.asarray(value, dtype=np.float64) for key, value in net.params.items()}
    a1 = np.einsum("nd,dh->nh", x, p["W1"]) + p["b1"]  # BLAS-free: no spinning BLAS threads
    z1 = ACTIVATIONS[net.activation]().forward(a1)
    a2 = np.einsum("nh,hc->nc", z1, p["W2"]) + p["b2"]
    loss = float(np.mean(softmax_cross_entropy(a2, labels)))
    a2s, W2T = a2 - a2.max(axis=1, keepdims=True), p["W2"].T.copy()
    return loss, Forward(a1, z1, a2s, labels, W2T, h, net.activation)


def first_layer_diffs(fw: Forward, rows: np.ndarray, vals: np.ndarray) -> np.ndarray:
    """ℓ⁺ − ℓ⁻ (B, H) of samples ``rows`` (B,) when ``a1[row, j]`` moves by ±h·vals (B,)."""
    step = fw.h * vals[:, None]
    return perturbed_losses(fw, rows, step) - perturbed_losses(fw, rows, -step)


def perturbed_losses(fw: Forward, rows: np.ndarray, step: np.ndarray) -> np.ndarray:
    """ℓ (B, H) of samples ``rows`` (B,) when only unit j's pre-activation moves by step (B, 1)."""
    dz = fw.hidden_change(rows, step)  # (B, H): change of the one perturbed hidden unit
    logits = dz[None] * fw.W2T[:, None, :]  # (C, B, H): all C perturbed logits, shifted
    logits += fw.a2s[rows].T[:, :, None]
    label_logit = logits[fw.labels[rows], np.arange(len(rows))]  # (B, H)
    np.exp(logits, out=logits)
    return np.log(logits.sum(axis=0)) - label_logit


def second_layer_diffs(fw: Forward) -> np.ndarray:
    """Σ_n (ℓ_n⁺ − ℓ_n⁻) for W2[j, k] (rows j < H) and b2[k] (row H): shape (H + 1, C)."""
    n, c = fw.a2s.shape
    z = np.hstack([fw.z1, np.ones((n, 1))])[:, :, None]  # (N, H+1, 1): b2 sees a unit of 1
    e = np.exp(fw.a2s)
    others = (e[:, None, :] * (1.0 - np.eye(c))).sum(axis=2)[:, None, :]  # Σ_{k'≠k} e[n, k']
    is_label = (np.arange(c) == fw.labels[:, None])[:, None, :]
    label_logit = fw.a2s[np.arange(n), fw.labels][:, None, None]

    def losses(moved: np.ndarray) -> np.ndarray:  # (N, H+1, C): logit k moved, others kept
        return np.log(others + np.exp(moved)) - np.where(is_label, moved, label_logit)

    a2s = fw.a2s[:, None, :]
    return (losses(a2s + fw.h * z) - losses(a2s - fw.h * z)).sum(axis=0)


class DistinctInputs:
    """Non-zero entries of x (N, D') grouped by equal (sample, value), and by column.

    ``rows``, ``vals`` (U,): sample and value of each distinct pair. ``cols`` (nnz,): column of
    every non-zero entry, sorted; ``pair`` (nnz,): its distinct pair; ``starts``: where each
    column's run of entries begins.
    """

    def __init__(self, x: np.ndarray) -> None:
        flat = np.flatnonzero(x != 0)  # row-major: sorted by sample, then column
        nz_vals, (nz_rows, nz_cols) = x.ravel()[flat], np.divmod(flat, x.shape[1])
        order = np.argsort(nz_vals)  # then stably by sample: grouped by (sample, value)
        order = order[np.argsort(_small(nz_rows[order], len(x)), kind="stable")]
        r, v = nz_rows[order], nz_vals[order]
        new = np.ones(len(r), dtype=bool)
        new[1:] = (r[1:] != r[:-1]) | (v[1:] != v[:-1])
        self.rows, self.vals = r[new], v[new]
        pair = np.empty(len(r), dtype=np.intp)
        pair[order] = np.cumsum(new) - 1
        by_col = np.argsort(_small(nz_cols, x.shape[1]), kind="stable")
        self.cols, self.pair = nz_cols[by_col], pair[by_col]
        self.starts = np.flatnonzero(np.diff(self.cols, prepend=-1))

    def split(self, n_parts: int) -> list[slice]:
        """At most ``n_parts`` slices of whole column runs covering all ``starts``."""
        bounds = np.unique(np.linspace(0, len(self.starts), max(1, n_parts) + 1).astype(int))
        return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]

    def sum_by_column(self, diffs: np.ndarray, out: np.ndarray, runs: slice) -> None:
        """out[col] = Σ of diffs[pair] (U, H) over the entries of column runs ``runs``."""
        starts = self.starts[runs]
        end = self.starts[runs.stop] if runs.stop < len(self.starts) else len(self.cols)
        values = diffs[self.pair[starts[0] : end]]
        out[self.cols[starts]] = np.add.reduceat(values, starts - starts[0], axis=0)


def _small(indices: np.ndarray, bound: int) -> np.ndarray:
    """``indices`` < ``bound`` in the smallest integer type (stable sorts use radix sort)."""
    return indices.astype(np.min_scalar_type(bound), copy=False)
