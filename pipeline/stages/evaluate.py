"""The evaluate stage: final accuracy, loss and confusion matrix of a trained network."""

from __future__ import annotations

import numpy as np

from pipeline.stages.data import Dataset
from scratchnn import TwoLayerNet
from scratchnn.functions import labels_of
from scratchnn.layers import softmax_cross_entropy

CHUNK = 10000  # samples per forward pass: bounded memory on the full sets


def evaluate(net: TwoLayerNet, data: Dataset) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """Final metrics on the full train and test sets, one forward pass over each.

    Returns
    -------
    metrics : dict with ``final_train_acc``, ``final_test_acc``, ``final_train_loss``,
        ``final_test_loss``
    confusion : ndarray of int64, shape (C, C); ``confusion[true, predicted]`` on the test set
    test_predicted : ndarray of int64, shape (N_test,); the predicted label of each test sample
    """
    metrics: dict[str, float] = {}
    confusion = np.zeros((data.n_classes, data.n_classes), dtype=np.int64)
    test_predicted = np.empty(len(data.x_test), dtype=np.int64)
    for split, x, t in (("train", data.x_train, data.t_train), ("test", data.x_test, data.t_test)):
        labels = labels_of(t)
        loss_sum, correct = 0.0, 0
        for start in range(0, len(x), CHUNK):
            scores = net.scores(x[start : start + CHUNK])
            chunk_labels = labels[start : start + CHUNK]
            predicted = scores.argmax(axis=1)
            loss_sum += float(np.sum(softmax_cross_entropy(scores, chunk_labels), dtype=np.float64))
            correct += int(np.count_nonzero(predicted == chunk_labels))
            if split == "test":
                np.add.at(confusion, (chunk_labels, predicted), 1)
                test_predicted[start : start + len(predicted)] = predicted
        metrics[f"final_{split}_acc"] = correct / len(x)
        metrics[f"final_{split}_loss"] = loss_sum / len(x)
    return metrics, confusion, test_predicted


def misclassified(predicted: np.ndarray, labels: np.ndarray, limit: int) -> np.ndarray:
    """The first ``limit`` sample numbers (in data order) whose ``predicted`` label (N,)
    differs from its true label ``labels`` (N,): int64, shape (min(limit, wrong),)."""
    return np.flatnonzero(predicted != labels)[:limit]
