"""Numerical differentiation (section 4.3) and gradient descent (section 4.4) for any function.

These are the reference implementations: slow, simple and correct for any ``f``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

ScalarFn = Callable[[float], float]
ArrayFn = Callable[[np.ndarray], float]


def forward_diff(f: ScalarFn, x: float, h: float = 10e-50) -> float:
    """Derivative of ``f`` at ``x`` by the forward difference ``(f(x+h) - f(x)) / h``.

    The notebook's "bad implementation" (section 4.3.1), kept to show what goes wrong: its
    ``h = 10e-50`` is lost when added to any ordinary ``x`` (``x + h == x``), so it returns
    exactly 0; and even at a usable ``h`` it is the slope between ``x`` and ``x + h``, off
    by ``h * f''(x) / 2``, where the central difference (``numerical_diff``) is off by
    ``h**2 * f'''(x) / 6``.

    The arithmetic is that of ``x`` and ``h``: float32 ``x`` and ``h`` give a float32 result
    (a Python float ``h`` is taken as float32, NEP 50), in which ``h`` itself may have
    rounded to 0, making the result 0/0 = nan (numpy warns unless ``np.errstate`` says not).
    """
    return (f(x + h) - f(x)) / h


def numerical_diff(f: ScalarFn, x: float, h: float = 1e-4) -> float:
    """Derivative of ``f`` at ``x`` by the central difference ``(f(x+h) - f(x-h)) / (2h)``.

    The source notebook typed ``/ 2*h`` (divide by 2, multiply by h); this is what it meant.
    Computed in the arithmetic of ``x`` and ``h``, as ``forward_diff`` is.
    """
    return (f(x + h) - f(x - h)) / (2 * h)


def numerical_gradient(f: ArrayFn, x: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Gradient of ``f`` at ``x`` by central differences, one element at a time.

    ``x`` is perturbed in place (so ``f`` may ignore its argument and read ``x`` through a
    closure, as the book's networks do) and every element is restored exactly afterwards,
    also when ``f`` raises.

    Parameters
    ----------
    f : callable taking ``x`` and returning a scalar
    x : ndarray of floats, any shape
    h : float, the step of the central difference

    Returns
    -------
    ndarray, same shape and dtype as ``x``
    """
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"numerical_gradient needs a float array, got dtype {x.dtype}")
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        original = x[idx]
        try:
            x[idx] = original + h
            f_plus = f(x)
            x[idx] = original - h
            f_minus = f(x)
        finally:
            x[idx] = original
        grad[idx] = (f_plus - f_minus) / (2 * h)
    return grad


def gradient_descent(
    f: ArrayFn,
    init_x: np.ndarray,
    lr: float = 0.01,
    step_num: int = 100,
    *,
    return_path: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Minimise ``f`` from ``init_x`` by ``step_num`` steps ``x -= lr * grad f(x)``.

    The caller's ``init_x`` is never modified.

    Parameters
    ----------
    f : callable taking an array shaped like ``init_x`` and returning a scalar
    init_x : ndarray, shape (D,)
    lr : float, the learning rate
    step_num : int, the number of steps
    return_path : bool, also return every point visited

    Returns
    -------
    x : ndarray, shape (D,), the final point
    path : ndarray, shape (step_num + 1, D), only when ``return_path``; row 0 is ``init_x``
    """
    x = np.array(init_x, copy=True)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    path = [x.copy()]
    for _ in range(step_num):
        x -= lr * numerical_gradient(f, x)
        path.append(x.copy())
    return (x, np.array(path)) if return_path else x
