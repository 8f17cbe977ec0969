"""The gradient check of the book's chapter 5.7: the gradient training steps by, against
central differences.

Backprop is fast but easy to get wrong; central differences are slow but hard to get wrong.
``check_gradients`` computes, on a few rows, the gradient the run's training step computes
(``steps.BACKPROP``: ``FusedStep`` for ``train.impl=fast``, in the run's dtype and hidden
layer) and the central differences of the same loss, taken in float64 on a copy of the net
(in float32 their rounding, ~eps32 * loss / h ~ 1e-3, would hide any bug), and says how far
the two differ, per parameter. Two things would make that comparison say nothing, and are
handled:

- **A gradient that is ~0** (a dead network): the error is relative to the larger of the two
  gradients, but never to less than ``FLOOR``, so rounding noise over rounding noise does
  not fail a correct run.
- **A ReLU kink**: a central difference across it measures neither side's slope. An entry of
  ``W1`` or ``b1`` whose ±h could carry a hidden pre-activation across 0, on any of the rows,
  is left out of the comparison and counted (``Check.skipped``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from scratchnn import TwoLayerNet
from scratchnn.fast.numerical import numerical_loss_and_gradient
from scratchnn.networks import PARAM_KEYS

FLOOR = 1e-6  # a gradient whose largest entry is below this is 0 to the check
Backprop = Callable[[TwoLayerNet, np.ndarray, np.ndarray], dict]  # steps.BACKPROP's values


@dataclass(frozen=True)
class Check:
    """The relative error of each parameter's gradient (``errors``, keyed like the params) and
    how many entries were left out at a ReLU kink (``skipped``)."""

    errors: dict[str, float]
    skipped: int = 0


def relative_error(
    analytic: np.ndarray, numerical: np.ndarray, kept: np.ndarray | None = None
) -> float:
    """The largest difference of two gradients of one parameter, relative to the largest
    entry of either and at least ``FLOOR``: ``max |a - n| / max(max |a|, max |n|, FLOOR)``,
    over the entries ``kept`` (a boolean mask shaped like them; None: all).

    An entry-by-entry ratio would divide by entries that are zero up to rounding (a weight
    whose inputs are all 0 in the batch): noise of ~1e-12 over ~1e-12 says nothing.
    """
    if kept is not None:
        analytic, numerical = analytic[kept], numerical[kept]
    if not analytic.size:
        return 0.0
    scale = max(float(np.max(np.abs(analytic))), float(np.max(np.abs(numerical))), FLOOR)
    return float(np.max(np.abs(analytic - numerical))) / scale  # NaN stays NaN


def away_from_kinks(net: TwoLayerNet, x: np.ndarray, h: float) -> dict[str, np.ndarray]:
    """For a ReLU net, the entries of ``W1`` (D, H) and ``b1`` (H,) whose central difference
    of step ``h`` leaves every pre-activation of the rows ``x`` (N, D) on its side of 0:
    ``W1[i, j] ± h`` moves ``a[n, j]`` by ``±h·x[n, i]``, ``b1[j] ± h`` by ``±h``. Empty for
    any other hidden layer (no kink)."""
    if net.activation != "relu":
        return {}
    a = np.abs(x @ net.params["W1"] + net.params["b1"])  # (N, H)
    crossing = (a[:, None, :] < h * np.abs(x)[:, :, None]).any(axis=0)  # (D, H)
    return {"W1": ~crossing, "b1": ~(a < h).any(axis=0)}


def check_gradients(
    net: TwoLayerNet, x: np.ndarray, labels: np.ndarray, h: float, backprop: Backprop
) -> Check:
    """The gradient ``backprop`` computes for ``net`` (in its dtype) on the batch ``x``
    (N, D), ``labels`` (N,), against central differences of step ``h`` in float64, at the
    current weights (``net`` is not changed)."""
    analytic = backprop(net, x.astype(net.params["W1"].dtype), labels)
    twin = TwoLayerNet(1, 1, 1, activation=net.activation, rng=np.random.default_rng(0))
    twin.params = {key: value.astype(np.float64) for key, value in net.params.items()}
    x64 = x.astype(np.float64)
    _, numerical = numerical_loss_and_gradient(twin, x64, labels, h, n_threads=1)
    kept = away_from_kinks(twin, x64, h)
    errors = {
        key: relative_error(analytic[key].astype(np.float64), numerical[key], kept.get(key))
        for key in PARAM_KEYS
    }
    return Check(errors, sum(int(np.count_nonzero(~mask)) for mask in kept.values()))


def failing(errors: dict[str, float], tol: float) -> list[str]:
    """The keys of ``errors`` above ``tol`` (or NaN), in parameter order."""
    return [key for key, error in errors.items() if not error <= tol]
