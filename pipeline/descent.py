"""The notebook's section 4.4.1 as a task: gradient descent on f(x0, x1) = x0**2 + x1**2.

``task=gradient_descent`` minimises ``f`` from ``gd.init_x`` for ``gd.step_num`` steps of
the library's numerical gradient; the run logs the path and a contour plot with it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from omegaconf import OmegaConf

from pipeline.recording import JobInfo, Recorder
from pipeline.tracking import status_after
from scratchnn.gradient import gradient_descent


def function_2(x: np.ndarray) -> float:
    """The notebook's ``function_2``: x0**2 + x1**2 for x of shape (2,)."""
    return float(x[0] ** 2 + x[1] ** 2)


def run_gradient_descent(cfg: Any, job: JobInfo) -> dict[str, Any]:
    """Run it; returns the final point and value (and the run id when tracked)."""
    init_x = np.array(list(cfg.gd.init_x), dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        final, path = gradient_descent(
            function_2, init_x, lr=cfg.gd.lr, step_num=cfg.gd.step_num, return_path=True
        )
    values = np.array([function_2(p) for p in path])
    result = {"x0": float(final[0]), "x1": float(final[1]), "f": function_2(final)}
    if not cfg.tracking.enabled:
        return result
    recorder = Recorder(cfg, job, OmegaConf.to_container(cfg, resolve=True))
    recorder.open()
    sink = recorder.start({"task": "gradient_descent"})
    try:
        steps = np.arange(len(path))
        sink.log_series("x0", steps, path[:, 0])
        sink.log_series("x1", steps, path[:, 1])
        sink.log_series("f", steps, values)
        sink.log_figure("descent_path", path=path, lr=float(cfg.gd.lr))
        job.output_dir.mkdir(parents=True, exist_ok=True)
        np.savetxt(job.output_dir / "path.csv", path, delimiter=",", header="x0,x1", comments="")
        sink.log_artifact(job.output_dir / "path.csv", None)
    except BaseException as error:
        sink.end(status_after(error))
        raise
    return {**result, "run_id": sink.end("FINISHED")}
