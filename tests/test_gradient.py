"""The notebook's numbers for sections 4.3 and 4.4, with its typos fixed."""

import numpy as np
import pytest

from scratchnn.gradient import gradient_descent, numerical_diff, numerical_gradient


def function_1(x):
    return 0.01 * x**2 + 0.1 * x


def function_2(x):
    return x[0] ** 2 + x[1] ** 2


@pytest.mark.parametrize(("x", "expected"), [(5, 0.1999999999990898), (10, 0.2999999999986347)])
def test_numerical_diff_is_the_central_difference(x, expected):
    # The notebook typed `/ 2*h` and printed 1.9999999999908982e-09 and 2.999999999986347e-09.
    assert numerical_diff(function_1, x) == expected


def test_partial_derivatives_of_section_4_3_3():
    assert numerical_diff(lambda x0: x0 * x0 + 4.0**2.0, 3.0) == 6.00000000000378
    assert numerical_diff(lambda x1: 3.0**2.0 + x1 * x1, 4.0) == 7.999999999999119


@pytest.mark.parametrize(
    ("point", "expected"), [((3.0, 4.0), (6, 8)), ((0.0, 2.0), (0, 4)), ((3.0, 0.0), (6, 0))]
)
def test_numerical_gradient_of_section_4_4(point, expected):
    np.testing.assert_allclose(numerical_gradient(function_2, np.array(point)), expected, atol=1e-9)


def test_numerical_gradient_restores_x_exactly_and_handles_any_shape():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4, 2))
    before = x.copy()
    grad = numerical_gradient(lambda a: float(np.sum(a**3)), x)
    assert np.array_equal(x, before)
    np.testing.assert_allclose(grad, 3 * before**2, rtol=1e-6, atol=2e-8)  # h**2 * f''' / 6


def test_numerical_gradient_restores_x_when_f_raises():
    x = np.array([1.0, 2.0, 3.0])
    calls = []

    def exploding(a):
        calls.append(a.copy())
        if len(calls) == 4:
            raise RuntimeError("boom")
        return float(a.sum())

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(exploding, x)
    assert calls[3][1] != 2.0  # it raised while x[1] was perturbed ...
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])  # ... and x[1] is back


def test_numerical_gradient_rejects_integer_arrays():
    with pytest.raises(TypeError, match="float"):
        numerical_gradient(function_2, np.array([3, 4]))


@pytest.mark.parametrize(
    ("lr", "expected"),
    [
        (0.1, [-6.11110793e-10, 8.14814391e-10]),
        (10.0, [-2.58983747e13, -1.29524862e12]),  # diverges
        (1e-10, [-2.99999994, 3.99999992]),  # hardly moves
    ],
)
def test_gradient_descent_reproduces_the_notebook(lr, expected):
    init_x = np.array([-3.0, 4.0])
    x = gradient_descent(function_2, init_x, lr=lr, step_num=100)
    np.testing.assert_allclose(x, expected, rtol=5e-9)  # the notebook printed 9 digits
    np.testing.assert_array_equal(init_x, [-3.0, 4.0])  # the caller's array is untouched


def test_gradient_descent_returns_the_path_when_asked():
    x, path = gradient_descent(function_2, np.array([-3.0, 4.0]), lr=0.1, return_path=True)
    assert path.shape == (101, 2)
    np.testing.assert_array_equal(path[0], [-3.0, 4.0])
    np.testing.assert_array_equal(path[-1], x)
    np.testing.assert_allclose(path[1], [-3.0 * 0.8, 4.0 * 0.8])  # x - 0.1 * 2x


def test_gradient_descent_accepts_integer_start():
    x = gradient_descent(function_2, np.array([-3, 4]), lr=0.1)
    assert x.dtype == np.float64
