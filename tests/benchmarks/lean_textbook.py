"""The baseline for ``bench_train.py``: the book's ch.4 training loop, written leanly in numpy.

This is how a careful numpy user writes ``train_neuralnet.py`` without the book's layer
objects: float64, one minibatch sampled with replacement per iteration, plain matrix
products, the backprop gradient of the forward pass whose loss is logged (no second forward
pass), SGD, and full-set train and test accuracy every epoch on the book's schedule
(``iter_per_epoch = max(train_size / batch_size, 1)``, evaluate when ``i % iter_per_epoch
== 0``). Nothing in it comes from ``scratchnn``, so the baseline cannot inherit its speed-ups.
"""

from __future__ import annotations

import time

import numpy as np


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _scores(x: np.ndarray, params: dict) -> np.ndarray:
    """x: (N, D) -> pre-softmax scores (N, C)."""
    z1 = _sigmoid(x @ params["W1"] + params["b1"])
    return z1 @ params["W2"] + params["b2"]


def _accuracy(x: np.ndarray, labels: np.ndarray, params: dict) -> float:
    return float(np.mean(_scores(x, params).argmax(axis=1) == labels))


def run_lean(
    x_train: np.ndarray,
    t_train: np.ndarray,
    x_test: np.ndarray,
    t_test: np.ndarray,
    iters: int = 10000,
    batch_size: int = 100,
    lr: float = 0.1,
    hidden: int = 50,
    seed: int = 0,
) -> tuple[float, float, dict]:
    """Train the 784-``hidden``-10 sigmoid net for ``iters`` SGD steps, in float64.

    Parameters
    ----------
    x_train, x_test : ndarray, shape (N, D)
        Images, any float dtype; converted to float64 once (inside the timing).
    t_train, t_test : ndarray of ints, shape (N,)
        Labels.
    iters, batch_size, lr, hidden, seed
        The book's configuration by default; ``seed`` seeds the one Generator that draws
        the initial weights (``0.01 * N(0, 1)``) and the minibatch indices.

    Returns
    -------
    seconds : float
        Wall time of the whole loop, evaluations included.
    final_test_acc : float
        Test accuracy at the last evaluation.
    history : dict
        ``"loss"`` (iters,) per-iteration training loss; ``"train_acc"``, ``"test_acc"``
        lists, one entry per evaluation.
    """
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    x_train = np.asarray(x_train, dtype=np.float64)
    x_test = np.asarray(x_test, dtype=np.float64)
    train_size, input_size = x_train.shape
    n_classes = int(t_train.max()) + 1
    params = {
        "W1": 0.01 * rng.standard_normal((input_size, hidden)),
        "b1": np.zeros(hidden),
        "W2": 0.01 * rng.standard_normal((hidden, n_classes)),
        "b2": np.zeros(n_classes),
    }
    iter_per_epoch = max(train_size / batch_size, 1)
    rows = np.arange(batch_size)
    losses = np.empty(iters)
    train_accs: list[float] = []
    test_accs: list[float] = []

    for i in range(iters):
        idx = rng.integers(0, train_size, size=batch_size)
        x, t = x_train[idx], t_train[idx]
        # forward
        z1 = _sigmoid(x @ params["W1"] + params["b1"])
        a2 = z1 @ params["W2"] + params["b2"]
        a2 = a2 - a2.max(axis=1, keepdims=True)
        e = np.exp(a2)
        sum_e = e.sum(axis=1)
        losses[i] = np.mean(np.log(sum_e) - a2[rows, t])
        # backward of mean softmax cross-entropy
        dy = e / sum_e[:, None]
        dy[rows, t] -= 1.0
        dy /= batch_size
        grads = {"W2": z1.T @ dy, "b2": dy.sum(axis=0)}
        da1 = (dy @ params["W2"].T) * z1 * (1.0 - z1)
        grads["W1"] = x.T @ da1
        grads["b1"] = da1.sum(axis=0)
        for key in ("W1", "b1", "W2", "b2"):
            params[key] -= lr * grads[key]

        if i % iter_per_epoch == 0:
            train_accs.append(_accuracy(x_train, t_train, params))
            test_accs.append(_accuracy(x_test, t_test, params))

    seconds = time.perf_counter() - start
    history = {"loss": losses, "train_acc": train_accs, "test_acc": test_accs}
    return seconds, test_accs[-1], history
