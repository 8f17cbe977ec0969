"""Activation and loss functions of the book's ``common/functions.py``, numerically safe."""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The logistic function ``1 / (1 + exp(-x))``, elementwise, as the book writes it.

    Where ``exp(-x)`` overflows (``x < -709`` in float64, ``x < -88.7`` in float32) it is
    ``inf`` and the result is the correct limit 0, so the overflow warning is silenced rather
    than the input clipped. Relative error: a few ulps everywhere.

    Parameters
    ----------
    x : ndarray, any shape, float (integers are converted to float64)
    out : ndarray, optional
        Where to write the result, shaped and typed like ``x``; it may be ``x`` itself.

    Returns
    -------
    ndarray, same shape and float dtype as ``x``, values in [0, 1].
    """
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    y = np.negative(x, out=out)
    with np.errstate(over="ignore"):
        np.exp(y, out=y)
    y += 1.0
    return np.reciprocal(y, out=y)


def relu(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Rectified linear unit ``max(0, x)``, elementwise, into ``out`` if given (may be ``x``)."""
    return np.maximum(x, 0, out=out)


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, shifted by the maximum so ``exp`` cannot overflow.

    Parameters
    ----------
    x : ndarray, shape (C,) or (N, C)
        Scores of one sample or of a batch.

    Returns
    -------
    ndarray, same shape as ``x``; each row sums to 1.
    """
    x = np.asarray(x)
    shifted = x - np.max(x, axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=-1, keepdims=True)


def cross_entropy_error(y: np.ndarray, t: np.ndarray) -> float:
    """Mean cross-entropy of predicted probabilities, as the book defines it.

    ``-sum(log(y[n, t_n] + 1e-7)) / N``; the 1e-7 keeps ``log(0)`` finite.

    Parameters
    ----------
    y : ndarray, shape (C,) or (N, C)
        Predicted class probabilities.
    t : ndarray, shape (C,) or (N, C) one-hot, or () / (N,) label indices
        The correct classes.

    Returns
    -------
    float
    """
    y = np.asarray(y)
    t = np.asarray(t)
    if y.ndim == 1:
        y = y.reshape(1, -1)
        t = t.reshape(1, -1) if t.size == y.size else t.reshape(1)
    if t.size == y.size:  # one-hot -> label indices
        t = t.argmax(axis=1)
    batch_size = y.shape[0]
    return float(-np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size)


def labels_of(t: np.ndarray) -> np.ndarray:
    """Label indices of ``t``: shape (N,) from one-hot (N, C) or from labels (N,)."""
    t = np.asarray(t)
    return t.argmax(axis=1) if t.ndim == 2 else t
