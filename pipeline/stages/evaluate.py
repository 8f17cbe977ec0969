"""The evaluate stage: a network measured on the whole sets, at each epoch's start during
training (``measure``) and at the end (``evaluate``: final accuracies, losses, the test
confusion matrix)."""

from __future__ import annotations

import numpy as np

from pipeline.stages.data import Dataset
from scratchnn import TwoLayerNet
from scratchnn.fast.accuracy import BlockedAccuracy
from scratchnn.functions import labels_of
from scratchnn.layers import softmax_cross_entropy

CHUNK = 10000  # samples per forward pass: bounded memory on the full sets


def evaluate(net: TwoLayerNet, data: Dataset) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """Final metrics on the full train, validation (if any rows are held out) and test sets,
    one forward pass over each.

    Returns
    -------
    metrics : dict with ``final_<split>_acc`` and ``final_<split>_loss`` of each split
        (``train``, ``val``, ``test``)
    confusion : ndarray of int64, shape (C, C); ``confusion[true, predicted]`` on the test set
    test_predicted : ndarray of int64, shape (N_test,); the predicted label of each test sample
    """
    metrics: dict[str, float] = {}
    predicted: dict[str, np.ndarray] = {}
    for split, x, t in data.splits():
        accuracy, loss, predicted[split] = split_metrics(net, x, labels_of(t))
        metrics[f"final_{split}_acc"], metrics[f"final_{split}_loss"] = accuracy, loss
    confusion = np.zeros((data.n_classes, data.n_classes), dtype=np.int64)
    np.add.at(confusion, (labels_of(data.t_test), predicted["test"]), 1)
    return metrics, confusion, predicted["test"]


def split_metrics(
    net: TwoLayerNet, x: np.ndarray, labels: np.ndarray
) -> tuple[float, float, np.ndarray]:
    """Accuracy, mean cross-entropy loss and the predicted labels (N,) int64 of ``net`` on
    ``x`` (N, D) with true ``labels`` (N,), ``CHUNK`` rows per forward pass."""
    loss_sum, correct = 0.0, 0
    predicted = np.empty(len(x), dtype=np.int64)
    for start in range(0, len(x), CHUNK):
        rows = slice(start, start + CHUNK)
        scores = net.scores(x[rows])
        predicted[rows] = scores.argmax(axis=1)
        loss_sum += float(np.sum(softmax_cross_entropy(scores, labels[rows]), dtype=np.float64))
        correct += int(np.count_nonzero(predicted[rows] == labels[rows]))
    return correct / len(x), loss_sum / len(x), predicted


def misclassified(predicted: np.ndarray, labels: np.ndarray, limit: int) -> np.ndarray:
    """The first ``limit`` sample numbers (in data order) whose ``predicted`` label (N,)
    differs from its true label ``labels`` (N,): int64, shape (min(limit, wrong),)."""
    return np.flatnonzero(predicted != labels)[:limit]


def measure(
    blocked: BlockedAccuracy, data: Dataset, labels: dict[str, np.ndarray]
) -> dict[str, float]:
    """An epoch's evaluation of ``blocked.net`` on the whole sets: ``train_acc``, ``val_acc``
    and ``val_loss`` (when rows are held out) and ``test_acc``; ``labels``: each split's
    (N,). ``BlockedAccuracy`` gives ``net.accuracy``'s numbers exactly, faster."""
    measured = {"train_acc": blocked.accuracy(data.x_train, labels["train"])}
    if "val" in labels:
        val = split_metrics(blocked.net, data.x_val, labels["val"])
        measured["val_acc"], measured["val_loss"] = val[:2]
    measured["test_acc"] = blocked.accuracy(data.x_test, labels["test"])
    return measured
