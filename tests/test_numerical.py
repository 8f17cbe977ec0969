"""The fast numerical gradient (issue 6) against the textbook reference and against backprop."""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from scratchnn import TwoLayerNet
from scratchnn.fast import numerical as fast
from scratchnn.fast.numerical import numerical_loss_and_gradient
from scratchnn.gradient import numerical_gradient
from scratchnn.networks import PARAM_KEYS

TOLERANCE = 1e-6  # of each key's largest magnitude; the textbook difference has ~1e-8 noise


def sparse_pixels(rng, n, d, density=0.2):
    """MNIST-like (n, d) inputs: exact zeros, values k/255, many saturated at 1.0."""
    levels = rng.integers(1, 256, size=(n, d))
    levels[rng.random((n, d)) < 0.4] = 255
    return np.where(rng.random((n, d)) < density, levels, 0) / 255.0


def random_net(rng, d, h, c, activation, spread=0.3):
    """A net whose weights and biases are all non-trivial (biases are zero at init)."""
    net = TwoLayerNet(d, h, c, 0.3, activation=activation, rng=rng)
    for key in PARAM_KEYS:
        net.params[key] += spread * rng.standard_normal(net.params[key].shape)
    return net


def reference(net, x, t, key, index=None):
    """The textbook central difference of ``net.loss`` over all of params[key] or one element."""
    target = net.params[key] if index is None else net.params[key][index]
    with threadpool_limits(limits=1, user_api="blas"):  # small products: threads only hurt
        return numerical_gradient(lambda _: net.loss(x, t), target)


def assert_close_to_reference(fast_grad, ref_grad):
    scale = np.max(np.abs(ref_grad))
    assert scale > 0
    assert np.max(np.abs(fast_grad - ref_grad)) <= TOLERANCE * scale


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
@pytest.mark.parametrize("one_hot", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_the_reference_on_small_nets(activation, one_hot, seed):
    rng = np.random.default_rng(seed)
    x = np.round(sparse_pixels(rng, 12, 15, density=0.5) * 4) / 4  # few levels: repeats
    x[3] = x[7]  # a duplicated sample
    x[5, :4] = [-0.5, -0.25, 2.0, -0.5]  # the method does not assume pixels in [0, 1]
    x[:, 2] = 0.0  # a pixel that is never lit
    labels = rng.integers(0, 4, size=12)
    t = np.eye(4)[labels] if one_hot else labels
    net = random_net(rng, 15, 6, 4, activation)
    before = {key: value.copy() for key, value in net.params.items()}

    loss, grads = numerical_loss_and_gradient(net, x, t)

    for key in PARAM_KEYS:
        np.testing.assert_array_equal(net.params[key], before[key])  # untouched
        assert grads[key].shape == net.params[key].shape
        assert grads[key].dtype == np.float64
        assert_close_to_reference(grads[key], reference(net, x, t, key))
    assert loss == pytest.approx(net.loss(x, t), rel=1e-12)
    assert np.all(grads["W1"][2] == 0.0)  # no sample lights pixel 2: exactly nothing


def test_results_do_not_depend_on_threads_or_chunking(monkeypatch):
    rng = np.random.default_rng(5)
    x, t = sparse_pixels(rng, 40, 30), rng.integers(0, 5, size=40)
    net = random_net(rng, 30, 8, 5, "sigmoid")
    loss, grads = numerical_loss_and_gradient(net, x, t, n_threads=1)
    monkeypatch.setattr(fast, "CHUNK_ELEMENTS", 7)  # many tiny chunks
    loss3, grads3 = numerical_loss_and_gradient(net, x, t, n_threads=3)
    assert loss3 == loss
    for key in PARAM_KEYS:
        np.testing.assert_array_equal(grads3[key], grads[key])


def test_a_single_sample_and_an_empty_batch():
    rng = np.random.default_rng(12)
    net = random_net(rng, 6, 4, 3, "sigmoid")
    x, t = np.array([[0.0, 0.5, 0.0, 1.0, 0.5, 0.0]]), np.array([2])
    _, grads = numerical_loss_and_gradient(net, x, t)
    for key in PARAM_KEYS:
        assert_close_to_reference(grads[key], reference(net, x, t, key))
    with pytest.raises(ValueError, match="non-empty"):
        numerical_loss_and_gradient(net, np.zeros((0, 6)), np.zeros(0, dtype=int))


def test_float32_params_get_float32_gradients():
    rng = np.random.default_rng(6)
    x, t = sparse_pixels(rng, 10, 12), rng.integers(0, 3, size=10)
    net = TwoLayerNet(12, 5, 3, 0.5, rng=rng, dtype=np.float32)
    _, grads = numerical_loss_and_gradient(net, x, t, n_threads=1)
    net64 = TwoLayerNet(12, 5, 3, rng=rng)
    net64.params = {key: value.astype(np.float64) for key, value in net.params.items()}
    _, grads64 = numerical_loss_and_gradient(net64, x, t, n_threads=1)
    for key in PARAM_KEYS:
        assert grads[key].dtype == np.float32
        np.testing.assert_array_equal(grads[key], grads64[key].astype(np.float32))


@pytest.mark.filterwarnings("error")  # saturated units must not warn (or go NaN)
@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_saturated_hidden_units(activation):
    rng = np.random.default_rng(11)
    x, t = sparse_pixels(rng, 10, 8, density=0.6), rng.integers(0, 3, size=10)
    net = random_net(rng, 8, 6, 3, activation)
    net.params["b1"][:3] = [800.0, -800.0, -709.9]  # exp(−a1) underflows / overflows
    _, grads = numerical_loss_and_gradient(net, x, t)
    for key in PARAM_KEYS:
        assert np.all(np.isfinite(grads[key]))
        assert_close_to_reference(grads[key], reference(net, x, t, key))


def check_book_scale(net, x, t, n_w1=200, seed=0):
    """Reference on ``n_w1`` random W1 elements and all of b1, W2, b2 (the full pass is ~15 s)."""
    _, grads = numerical_loss_and_gradient(net, x, t)
    rng = np.random.default_rng(seed)
    d, h = net.params["W1"].shape
    lit = np.flatnonzero(x.any(axis=0))  # mostly elements that can move: x[:, i] != 0
    rows = np.r_[rng.choice(lit, n_w1 - 10), rng.integers(0, d, size=10)]
    picks = list(zip(rows, rng.integers(0, h, size=n_w1), strict=True))
    ref_w1 = np.array([reference(net, x, t, "W1", (slice(i, i + 1), j))[0] for i, j in picks])
    assert_close_to_reference(np.array([grads["W1"][i, j] for i, j in picks]), ref_w1)
    for key in ("b1", "W2", "b2"):
        assert_close_to_reference(grads[key], reference(net, x, t, key))


@pytest.mark.parametrize("weight_init_std", [0.01, 0.1])
def test_agrees_with_the_reference_at_book_scale_on_mnist_like_data(weight_init_std):
    rng = np.random.default_rng(7)
    x, t = sparse_pixels(rng, 100, 784, density=0.19), rng.integers(0, 10, size=100)
    net = TwoLayerNet(784, 50, 10, weight_init_std, rng=np.random.default_rng(8))
    check_book_scale(net, x, t)


def mnist_batch(n=100, seed=0):
    data = pytest.importorskip("pipeline.stages.data")
    try:
        (x_train, t_train), _ = data.load_mnist(dtype=np.float64)
    except Exception as exc:  # noqa: BLE001 - no cache and no network: nothing to test on
        pytest.skip(f"MNIST unavailable: {exc}")
    idx = np.random.default_rng(seed).choice(len(x_train), size=n, replace=False)
    return x_train[idx], t_train[idx]


@pytest.mark.slow
@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_agrees_with_the_reference_on_real_mnist(activation):
    x, t = mnist_batch()
    net = TwoLayerNet(784, 50, 10, 0.01, activation=activation, rng=np.random.default_rng(1))
    check_book_scale(net, x, t)
    net = random_net(np.random.default_rng(2), 784, 50, 10, activation, spread=0.05)
    check_book_scale(net, x, t, seed=1)


def train_both_ways(x_train, t_train, sizes, activation, iters=50, batch=20, lr=0.1):
    """Losses of ``iters`` SGD steps by numerical and by analytic gradients, same batches."""
    nets = [TwoLayerNet(*sizes, activation=activation, rng=np.random.default_rng(3))
            for _ in range(2)]  # fmt: skip
    batches = np.random.default_rng(4).integers(0, len(x_train), size=(iters, batch))
    losses = np.empty((2, iters))
    for i, idx in enumerate(batches):
        x, t = x_train[idx], t_train[idx]
        results = numerical_loss_and_gradient(nets[0], x, t), nets[1].loss_and_gradient(x, t)
        for net, row, (loss, grads) in zip(nets, losses, results, strict=True):
            row[i] = loss
            for key in PARAM_KEYS:
                net.params[key] -= lr * grads[key]
    return losses


def test_numerical_and_analytic_training_give_the_same_losses():
    # Sigmoid, as in the book. With ReLU any central difference (the textbook one too) differs
    # from the derivative where a pre-activation lies within h·x of the kink, so losses drift
    # apart by ~1e-6 over 50 steps; ReLU is checked against the reference above instead.
    rng = np.random.default_rng(9)
    x, t = sparse_pixels(rng, 200, 64, density=0.3), rng.integers(0, 10, size=200)
    x[np.arange(200)[:, None], 6 * t[:, None] + np.arange(4)] = 1.0  # something to learn
    numerical, analytic = train_both_ways(x, t, (64, 16, 10), "sigmoid")
    assert analytic[-10:].mean() < analytic[:10].mean()
    np.testing.assert_allclose(numerical, analytic, rtol=0, atol=1e-6)


@pytest.mark.slow
def test_numerical_and_analytic_training_agree_at_book_scale_on_mnist():
    x, t = mnist_batch(n=2000, seed=1)
    numerical, analytic = train_both_ways(x, t, (784, 50, 10), "sigmoid", batch=100)
    assert analytic[-10:].mean() < analytic[:10].mean()
    np.testing.assert_allclose(numerical, analytic, rtol=0, atol=1e-6)
