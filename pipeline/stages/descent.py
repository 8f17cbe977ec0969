"""The notebook's section 4.4.1 as a task: gradient descent on f(x0, x1) = x0**2 + x1**2.

``descend`` minimises ``f`` from ``gd.init_x`` for ``gd.step_num`` steps of the library's
numerical gradient and returns every point visited and the value there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchnn.gradient import gradient_descent


def function_2(x: np.ndarray) -> float:
    """The notebook's ``function_2``: x0**2 + x1**2 for x of shape (2,)."""
    return float(x[0] ** 2 + x[1] ** 2)


def descend(gd_cfg: Any) -> tuple[np.ndarray, np.ndarray]:
    """The path (step_num + 1, 2) from ``gd_cfg.init_x`` at ``gd_cfg.lr``, and ``f`` at each
    of its points (step_num + 1,). A rate that diverges gives inf/nan, not warnings."""
    init_x = np.array(list(gd_cfg.init_x), dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        _, path = gradient_descent(
            function_2, init_x, lr=gd_cfg.lr, step_num=gd_cfg.step_num, return_path=True
        )
        values = np.array([function_2(point) for point in path])
    return path, values
