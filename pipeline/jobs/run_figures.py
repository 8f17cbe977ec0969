"""A training run's figures, drawn by the job itself into ``<output dir>/figures/``.

The job draws them (``pipeline.figures``) after it has handed its model to the tracking
channel, so for a single run they are drawn on the job's core while the writer process
imports MLflow, opens the store and saves the model on the other (``docs/performance.md``);
the run then logs the folder as its ``figures/`` artifacts. A sweep job draws them on its
own core as before.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.stages.history import History

FIGURES_DIR = "figures"  # in the job's output dir and among the run's artifacts


def save(figure, folder: Path, name: str) -> None:
    """``figure`` as ``<folder>/<name>.png``, as ``MlflowClient.log_figure`` would write it."""
    folder.mkdir(parents=True, exist_ok=True)
    figure.savefig(folder / f"{name}.png")


def draw_training(folder: Path, history: History, confusion: np.ndarray | None) -> None:
    """The loss curve (with the validation loss, if any), the accuracies per epoch (if any)
    and the test confusion matrix (C, C) (if any: a diverged run has none)."""
    from pipeline.figures import training

    losses = history.losses[: history.iters_run]
    epochs, val_loss = np.array(history.epochs), np.array(history.val_loss)
    save(training.loss_curve(losses, epochs, val_loss), folder, "loss_curve")
    if history.train_acc:
        accuracy = [np.array(a) for a in (history.train_acc, history.test_acc, history.val_acc)]
        at = epochs / history.per_epoch  # each evaluation's epochs done; the last: all of them
        save(training.accuracy_curves(at, *accuracy), folder, "accuracy_curves")
    if confusion is not None:
        save(training.confusion_matrix(confusion), folder, "confusion_matrix")


def draw_digits(folder: Path, w1: np.ndarray, wrong: dict, image_shape: tuple[int, int]) -> None:
    """W1 (D, H)'s columns as images of ``image_shape`` and the misclassified test digits:
    ``wrong`` holds ``images`` (n, D), ``true`` and ``predicted`` (n,), ``n_wrong``, ``n_test``."""
    from pipeline.figures import digits

    save(digits.w1_filters(w1, image_shape), folder, "w1_filters")
    images = wrong["images"].reshape(-1, *image_shape)
    figure = digits.misclassified(
        images, wrong["true"], wrong["predicted"], int(wrong["n_wrong"]), int(wrong["n_test"])
    )
    save(figure, folder, "misclassified")
