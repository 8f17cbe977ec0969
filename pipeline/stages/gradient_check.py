"""The gradient check of the book's chapter 5.7: backprop against central differences.

Backprop is fast but easy to get wrong; central differences are slow but hard to get wrong.
``check_gradients`` computes both on a few rows, for every parameter, and says how far they
differ. It works in float64 on a copy of the net whatever its training dtype: in float32 the
central difference's rounding (~eps32 * loss / h ~ 1e-3) would hide any bug.
"""

from __future__ import annotations

import numpy as np

from scratchnn import TwoLayerNet
from scratchnn.fast.numerical import numerical_loss_and_gradient
from scratchnn.networks import PARAM_KEYS


def relative_error(analytic: np.ndarray, numerical: np.ndarray) -> float:
    """The largest difference of the two gradients of one parameter, relative to the largest
    entry of either: ``max |a - n| / max(max |a|, max |n|)`` (0 where both are all zeros).

    An entry-by-entry ratio would divide by entries that are zero up to rounding (a weight
    whose inputs are all 0 in the batch): noise of ~1e-12 over ~1e-12 says nothing.
    """
    scale = max(float(np.max(np.abs(analytic))), float(np.max(np.abs(numerical))))
    if scale == 0:
        return 0.0
    return float(np.max(np.abs(analytic - numerical))) / scale  # NaN stays NaN


def check_gradients(net: TwoLayerNet, x: np.ndarray, labels: np.ndarray, h: float) -> dict:
    """The relative error (``relative_error``) of backprop against central differences of
    step ``h``, per parameter key, on the batch ``x`` (N, D), ``labels`` (N,), at the current
    weights of ``net`` (which is not changed).

    Returns
    -------
    dict
        ``{"W1": float, "b1": ..., "W2": ..., "b2": ...}``, like ``net.params``.
    """
    twin = TwoLayerNet(1, 1, 1, activation=net.activation, rng=np.random.default_rng(0))
    twin.params = {key: value.astype(np.float64) for key, value in net.params.items()}
    x64 = x.astype(np.float64)
    analytic = twin.gradient(x64, labels)
    _, numerical = numerical_loss_and_gradient(twin, x64, labels, h, n_threads=1)
    return {key: relative_error(analytic[key], numerical[key]) for key in PARAM_KEYS}


def failing(errors: dict[str, float], tol: float) -> list[str]:
    """The keys of ``errors`` above ``tol`` (or NaN), in parameter order."""
    return [key for key, error in errors.items() if not error <= tol]
