"""A training run's figures: the loss curve, the accuracy per epoch, the confusion matrix.

Each function takes arrays and returns a ``matplotlib.figure.Figure`` (Agg: no screen needed);
saving is the caller's.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure


def loss_curve(
    losses: np.ndarray, epochs: np.ndarray | None = None, val_loss: np.ndarray | None = None
) -> Figure:
    """losses: (iters,) batch loss per iteration; ``val_loss`` (evaluations,), if given: the
    validation loss at the iterations ``epochs`` (evaluations,)."""
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.plot(np.arange(len(losses)), losses, linewidth=0.6, label="train loss (batch)")
    title = "Training loss"
    if val_loss is not None and len(val_loss):
        ax.plot(epochs, val_loss, marker="o", markersize=3, label="validation loss")
        ax.legend(loc="upper right")
        title = "Training and validation loss"
    ax.set(xlabel="iteration", ylabel="loss", title=title)
    ax.grid(alpha=0.3)
    fig.subplots_adjust(left=0.11, right=0.97, bottom=0.12, top=0.92)
    return fig


def accuracy_curves(
    epochs: np.ndarray,
    train_acc: np.ndarray,
    test_acc: np.ndarray,
    val_acc: np.ndarray | None = None,
) -> Figure:
    """train_acc, test_acc and, if given, val_acc: (evaluations,) accuracy at each epoch's
    start and at the end of training, at ``epochs`` (evaluations,), the epochs done then."""
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.plot(epochs, train_acc, marker="o", label="train acc")
    if val_acc is not None and len(val_acc):
        ax.plot(epochs, val_acc, marker="^", label="validation acc")
    ax.plot(epochs, test_acc, marker="s", linestyle="--", label="test acc")
    ax.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1), title="Accuracy per epoch")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.subplots_adjust(left=0.11, right=0.97, bottom=0.12, top=0.92)
    return fig


def confusion_matrix(confusion: np.ndarray) -> Figure:
    """confusion: (C, C) counts, rows = true class, columns = predicted class."""
    fig = Figure(figsize=(5.5, 5))
    ax = fig.add_subplot()
    image = ax.imshow(confusion, cmap="Blues")
    n = len(confusion)
    ax.set(xticks=range(n), yticks=range(n), xlabel="predicted", ylabel="true")
    ax.set_title("Confusion matrix (test set)")
    threshold = confusion.max() / 2
    for (row, col), count in np.ndenumerate(confusion):
        color = "white" if count > threshold else "black"
        ax.text(col, row, str(count), ha="center", va="center", fontsize=7, color=color)
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.subplots_adjust(left=0.08, right=0.88, bottom=0.1, top=0.93)
    return fig
