"""The messages that draw a run's figures where they are applied (``pipeline.tracking.messages``
says how messages travel): matplotlib is imported only there, in the writer process for a
single run. Each figure is logged as ``figures/<name>.png``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.tracking.session import Session


@dataclass
class LogTrainingFigures:
    """The loss curve, the accuracy per epoch (if any) and the test confusion matrix (if
    any: a diverged run has none), drawn where the message is applied."""

    losses: list[float]
    train_acc: list[float]
    test_acc: list[float]
    confusion: list[list[int]] | None

    def apply(self, session: Session) -> None:
        from pipeline.figures import training

        session.run.log_figure(training.loss_curve(np.array(self.losses)), "loss_curve")
        if self.train_acc:
            accuracy = training.accuracy_curves(np.array(self.train_acc), np.array(self.test_acc))
            session.run.log_figure(accuracy, "accuracy_curves")
        if self.confusion is not None:
            matrix = training.confusion_matrix(np.array(self.confusion))
            session.run.log_figure(matrix, "confusion_matrix")


@dataclass
class LogDigitFigures:
    """The columns of W1 (from the job's ``weights`` file) as images of ``image_shape``, and
    the misclassified test digits (from its ``misclassified`` file: ``images`` (n, h * w),
    ``true`` and ``predicted`` (n,), ``n_wrong`` and ``n_test``)."""

    weights: str
    misclassified: str
    image_shape: list[int]

    def apply(self, session: Session) -> None:
        from pipeline.figures import digits

        shape = tuple(self.image_shape)
        with np.load(self.weights, allow_pickle=False) as weights:
            session.run.log_figure(digits.w1_filters(weights["W1"], shape), "w1_filters")
        with np.load(self.misclassified, allow_pickle=False) as wrong:
            figure = digits.misclassified(
                wrong["images"].reshape(-1, *shape), wrong["true"], wrong["predicted"],
                int(wrong["n_wrong"]), int(wrong["n_test"]),
            )  # fmt: skip
        session.run.log_figure(figure, "misclassified")


@dataclass
class LogDescentFigure:
    """The path of ``task=gradient_descent`` over the contours of its function."""

    path: list[list[float]]
    lr: float

    def apply(self, session: Session) -> None:
        from pipeline.figures import lessons

        session.run.log_figure(lessons.descent_path(np.array(self.path), self.lr), "descent_path")
