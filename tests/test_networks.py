import numpy as np
import pytest

from scratchnn import SGD, SimpleNet, TwoLayerNet
from scratchnn.functions import cross_entropy_error, softmax
from scratchnn.gradient import numerical_gradient
from scratchnn.networks import PARAM_KEYS


def max_relative_error(a, b):
    """max |a - b| over the largest magnitude of either array."""
    return np.max(np.abs(a - b)) / max(np.max(np.abs(a)), np.max(np.abs(b)))


def random_batch(rng, n=8, d=12, c=4):
    x = rng.random((n, d))
    x[x < 0.4] = 0.0  # sparse, like pixels
    return x, rng.integers(0, c, size=n)


def test_simple_net_reproduces_section_4_4_2():
    net = SimpleNet(rng=np.random.default_rng(0))
    net.W = np.array(
        [[-0.28784646, -0.55651218, -0.25385907], [1.38540908, -2.10760105, -0.06095728]]
    )
    x, t = np.array([0.6, 0.9]), np.array([0, 0, 1])
    np.testing.assert_allclose(net.predict(x), [1.0741603, -2.23074826, -0.20717699], atol=1e-8)
    assert np.argmax(net.predict(x)) == 0
    assert net.loss(x, t) == pytest.approx(1.5546929843563622, abs=1e-7)
    dW = numerical_gradient(lambda _: net.loss(x, t), net.W)
    expected = [[0.45649284, 0.01675446, -0.4732473], [0.68473926, 0.02513169, -0.70987095]]
    np.testing.assert_allclose(dW, expected, atol=1e-7)


def test_simple_net_weights_come_from_the_generator():
    a, b = SimpleNet(rng=np.random.default_rng(3)), SimpleNet(rng=np.random.default_rng(3))
    assert a.W.shape == (2, 3)
    np.testing.assert_array_equal(a.W, b.W)


def test_two_layer_net_shapes_and_seeded_weights():
    net = TwoLayerNet(784, 50, 10, rng=np.random.default_rng(42))
    shapes = {k: v.shape for k, v in net.params.items()}
    assert shapes == {"W1": (784, 50), "b1": (50,), "W2": (50, 10), "b2": (10,)}
    again = TwoLayerNet(784, 50, 10, rng=np.random.default_rng(42))
    for key in PARAM_KEYS:
        assert net.params[key].tobytes() == again.params[key].tobytes()
    assert np.std(net.params["W1"]) == pytest.approx(0.01, rel=0.05)


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
@pytest.mark.parametrize("one_hot", [False, True])
def test_backprop_matches_numerical_gradient(activation, one_hot):
    rng = np.random.default_rng(1)
    net = TwoLayerNet(12, 6, 4, weight_init_std=0.5, activation=activation, rng=rng)
    x, labels = random_batch(rng)
    t = np.eye(4)[labels] if one_hot else labels
    analytic, numeric = net.gradient(x, t), net.numerical_gradient(x, t)
    for key in PARAM_KEYS:
        assert analytic[key].shape == net.params[key].shape
        assert max_relative_error(analytic[key], numeric[key]) < 1e-7, key


def test_predict_is_the_books_softmax_and_loss_its_cross_entropy():
    rng = np.random.default_rng(2)
    net = TwoLayerNet(12, 6, 4, weight_init_std=0.5, rng=rng)
    x, t = random_batch(rng)
    y = net.predict(x)
    np.testing.assert_allclose(y.sum(axis=1), 1.0)
    # The book adds 1e-7 inside the log: the two definitions differ by less than 1e-6 here.
    assert net.loss(x, t) == pytest.approx(cross_entropy_error(y, t), abs=1e-6)
    assert net.accuracy(x, t) == np.mean(np.argmax(y, axis=1) == t)
    assert net.accuracy(x, np.eye(4)[t]) == net.accuracy(x, t)
    np.testing.assert_allclose(softmax(net.scores(x)), y)


def test_float32_end_to_end():
    rng = np.random.default_rng(3)
    net = TwoLayerNet(12, 6, 4, weight_init_std=0.5, rng=rng, dtype=np.float32)
    x, t = random_batch(rng)
    x = x.astype(np.float32)
    grads = net.gradient(x, t)
    assert all(g.dtype == np.float32 for g in grads.values())
    assert net.scores(x).dtype == np.float32
    before = net.loss(x, t)
    for _ in range(20):
        SGD(lr=0.5).update(net.params, net.gradient(x, t))
    assert all(p.dtype == np.float32 for p in net.params.values())
    assert net.loss(x, t) < before


def test_training_lowers_the_loss_and_keeps_params_the_same_objects():
    rng = np.random.default_rng(4)
    net = TwoLayerNet(12, 8, 4, weight_init_std=0.5, rng=rng)
    x, t = random_batch(rng, n=32)
    params_before = dict(net.params)
    first = net.loss(x, t)
    for _ in range(1000):
        SGD(lr=0.5).update(net.params, net.gradient(x, t))
    assert net.loss(x, t) < 0.2 * first
    assert net.accuracy(x, t) == 1.0  # 32 random labels memorised
    assert all(net.params[k] is params_before[k] for k in PARAM_KEYS)


def test_unknown_activation_is_a_clear_error():
    with pytest.raises(ValueError, match="activation='tanh'.*allowed"):
        TwoLayerNet(4, 3, 2, activation="tanh")


@pytest.mark.parametrize(("name", "gain"), [("he", 2.0), ("xavier", 1.0)])
def test_named_weight_inits_scale_by_fan_in_as_the_books_multilayernet(name, gain):
    """The book's ch. 6.2: each weight matrix is sqrt(gain / its rows) * N(0, 1)."""
    unit = TwoLayerNet(784, 100, 10, 1.0, rng=np.random.default_rng(5))
    named = TwoLayerNet(784, 100, 10, name, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(named.params["W1"], np.sqrt(gain / 784) * unit.params["W1"])
    np.testing.assert_array_equal(named.params["W2"], np.sqrt(gain / 100) * unit.params["W2"])
    assert named.params["W1"].std() == pytest.approx(np.sqrt(gain / 784), rel=0.02)


def test_an_unknown_weight_init_is_refused():
    with pytest.raises(ValueError, match="weight_init_std='lecun' is unknown"):
        TwoLayerNet(4, 3, 2, "lecun")
