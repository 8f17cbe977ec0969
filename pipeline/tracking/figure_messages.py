"""The message that draws a lesson's figure where it is applied (``pipeline.tracking.messages``
says how messages travel), logged as ``figures/<name>.png``. A training run's figures are
drawn by the job itself (``pipeline.jobs.run_figures``) and logged as files."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.tracking.session import Session


@dataclass
class LogDescentFigure:
    """The path of ``task=gradient_descent`` over the contours of its function."""

    path: list[list[float]]
    lr: float

    def apply(self, session: Session) -> None:
        from pipeline.figures import lessons

        session.run.log_figure(lessons.descent_path(np.array(self.path), self.lr), "descent_path")
