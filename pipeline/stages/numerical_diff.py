"""The notebook's section 4.3.1 as a task: what the step h of a numerical derivative costs.

``differentiate`` takes the derivative of the notebook's ``function_1``,
f(x) = 0.01 x**2 + 0.1 x, at one x by one of ``METHODS`` (the forward difference, the
notebook's "bad implementation", or the central difference) in one of ``DTYPES``, at every
step h = 10**-k, k = 1 .. k_max, and returns each estimate with its absolute error against
the exact derivative 0.02 x + 0.1. As h shrinks, the error first falls with the truncation
error (forward: 0.01 h; central: none, f is quadratic), then rises with rounding (about
eps |f(x)| / h), and once x + h == x the estimate is exactly 0; in float32, h = 10**-k itself
rounds to 0 for k >= 46, and the estimate is 0/0 = nan.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from scratchnn.gradient import forward_diff, numerical_diff

METHODS = {"forward": forward_diff, "central": numerical_diff}
DTYPES = ("float32", "float64")
MAX_K = 307  # 10**-307 is still a normal float64; 10**-324 is 0


@dataclass(frozen=True)
class Differences:
    """The estimates of f'(x) at each step; every array has shape (k_max,)."""

    k: np.ndarray  # int64: 1 .. k_max
    h: np.ndarray  # the dtype's nearest value to 10**-k (0 where 10**-k underflows)
    estimate: np.ndarray  # in the dtype; nan where h == 0
    abs_error: np.ndarray  # float64: |estimate - f'(x)|, computed exactly, then rounded once
    exact: float  # f'(x) = 0.02 x + 0.1 at the x of the dtype, rounded to float64


def function_1(x: float) -> float:
    """The notebook's ``function_1``, computed in the arithmetic of ``x``."""
    return 0.01 * x**2 + 0.1 * x


def exact_derivative(x: float) -> Fraction:
    """f'(x) = 0.02 x + 0.1 as an exact rational number (no rounding at all)."""
    return Fraction(2, 100) * Fraction(x) + Fraction(1, 10)


def differentiate(method: str, x: float, dtype: str, k_max: int) -> Differences:
    """``METHODS[method]`` of ``function_1`` at ``x``, everything in ``dtype``, for h = 10**-k.

    ``x`` is first rounded to ``dtype``, and the exact derivative is taken there. An
    estimate is compared with it exactly (``Fraction``), so the error is never rounded to 0
    (0.2 and 0.3, the derivatives at x = 5 and 10, are no binary fractions); 0/0 gives nan,
    without a warning.
    """
    scalar, slope = np.dtype(dtype).type, METHODS[method]
    point = scalar(x)
    exact = exact_derivative(float(point))
    k = np.arange(1, k_max + 1, dtype=np.int64)
    h = np.array([scalar(f"1e-{n}") for n in k], dtype=dtype)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        estimate = np.array([slope(function_1, point, step) for step in h], dtype=dtype)
    abs_error = np.array(
        [float(abs(Fraction(float(e)) - exact)) if np.isfinite(e) else np.nan for e in estimate]
    )
    return Differences(k, h, estimate, abs_error, float(exact))


def truncation_error(h: np.ndarray) -> np.ndarray:
    """The forward difference's error in exact arithmetic, f''(x) h / 2 = 0.01 h (f is
    quadratic: (f(x+h) - f(x)) / h = f'(x) + 0.01 h exactly); the central one has none."""
    return 0.01 * np.asarray(h, dtype=np.float64)


def rounding_error(x: float, dtype: str, h: np.ndarray) -> np.ndarray:
    """The size of the rounding error, eps |f(x)| / h: f(x + h) and f(x) are each rounded
    by about eps |f(x)| / 2, and their difference is divided by h."""
    return np.finfo(dtype).eps * abs(function_1(float(x))) / np.asarray(h, dtype=np.float64)
