"""Benchmark: the book's per-element numerical gradient versus the fast exact one (issue 6).

Run: ``python tests/benchmarks/bench_numerical.py [--quick]``

Both gradients are taken on the same 784-50-10 sigmoid net (weight_init_std 0.01, seeded) and
the same batch of 100 MNIST images (synthetic MNIST-like data if MNIST cannot be loaded; the
output says so):

* textbook: ``numerical_gradient`` as the book writes it (perturb one element in place,
  evaluate the whole loss twice, restore) over a plain, lean loss (sigmoid -> softmax ->
  cross entropy in numpy, no scratchnn). A full pass is 79,520 loss evaluations (15 to 45 s
  here), so it is timed on a random subset of parameters and scaled to all 39,760, which is
  exact up to timing noise because every element costs the same two loss evaluations. It is
  timed with the default BLAS threads and with 1 BLAS thread; the faster one is the baseline.
* fast: ``scratchnn.fast.numerical.numerical_loss_and_gradient`` (default threads, and 1 thread).

The two are timed alternately, several rounds, and medians are reported, with the load
average (other processes on the machine skew wall times; the CPU-time ratio of the two
single-threaded runs is printed too, as it is less sensitive to them). Timings are printed,
never asserted. Goal: fast >= 500x faster than textbook.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

from scratchnn import TwoLayerNet
from scratchnn.fast.numerical import default_threads, numerical_loss_and_gradient

GOAL = 500
ITERS = 10_000  # the notebook's numerical run


# --- the book's code, written leanly ------------------------------------------------------
def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softmax(x):
    x = x - np.max(x, axis=-1, keepdims=True)
    return np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)


def cross_entropy_error(y, t):
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size


def lean_loss(params, x, t):
    z1 = sigmoid(np.dot(x, params["W1"]) + params["b1"])
    y = softmax(np.dot(z1, params["W2"]) + params["b2"])
    return cross_entropy_error(y, t)


def textbook_gradient_of(f, params, picks):
    """The book's ``numerical_gradient`` loop body, run over ``picks`` [(key, index), ...]."""
    h = 1e-4
    grad = []
    for key, idx in picks:
        x = params[key]
        tmp_val = x[idx]
        x[idx] = float(tmp_val) + h
        fxh1 = f(x)  # f(x+h)
        x[idx] = tmp_val - h
        fxh2 = f(x)  # f(x-h)
        grad.append((fxh1 - fxh2) / (2 * h))
        x[idx] = tmp_val  # restore
    return np.array(grad)


# --- data ---------------------------------------------------------------------------------
def batch_of_100(seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    rng = np.random.default_rng(seed)
    try:
        from pipeline.stages.data import load_mnist

        (x_train, t_train), _ = load_mnist(dtype=np.float64)
        idx = rng.choice(len(x_train), size=100, replace=False)
        return x_train[idx], t_train[idx], "real MNIST (pipeline.stages.data.load_mnist)"
    except Exception as exc:  # noqa: BLE001 - any failure: say so and fall back
        print(f"MNIST not available ({type(exc).__name__}: {exc}); FELL BACK to synthetic data")
        levels = rng.integers(1, 256, size=(100, 784))
        x = np.where(rng.random((100, 784)) < 0.19, levels, 0) / 255.0
        return x, rng.integers(0, 10, size=100), "synthetic MNIST-like sparse data (fallback)"


def timed(fn, cpu: list[float] | None = None) -> float:
    """Wall seconds of ``fn()``; appends its process CPU seconds to ``cpu`` if given."""
    start, start_cpu = time.perf_counter(), time.process_time()
    fn()
    if cpu is not None:
        cpu.append(time.process_time() - start_cpu)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller subset, fewer rounds")
    args = parser.parse_args()
    n_subset, rounds, reps = (400, 2, 5) if args.quick else (2000, 3, 10)

    x, t, source = batch_of_100()
    net = TwoLayerNet(784, 50, 10, 0.01, rng=np.random.default_rng(0))
    params = {key: value.copy() for key, value in net.params.items()}
    sizes = {key: value.size for key, value in params.items()}
    n_params = sum(sizes.values())
    flat = np.random.default_rng(1).choice(n_params, size=n_subset, replace=False)
    offsets = np.cumsum([0, *sizes.values()])
    picks = []
    for k in flat:
        i = np.searchsorted(offsets, k, side="right") - 1
        key = list(sizes)[i]
        picks.append((key, np.unravel_index(k - offsets[i], params[key].shape)))

    def f(_):
        return lean_loss(params, x, t)

    threads = default_threads()
    print(f"batch: {source}, N=100, {np.count_nonzero(x) / x.size:.1%} non-zero pixels")
    print(f"net 784-50-10 sigmoid, {n_params:,} parameters; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}; fast path uses {threads} threads")  # fmt: skip
    times: dict[str, list[float]] = {"book": [], "book1": [], "fast": [], "fast1": []}
    cpu: dict[str, list[float]] = {"book1": [], "fast1": []}
    for _ in range(rounds):
        times["book"].append(timed(lambda: textbook_gradient_of(f, params, picks)))
        with threadpool_limits(limits=1, user_api="blas"):
            times["book1"].append(
                timed(lambda: textbook_gradient_of(f, params, picks), cpu["book1"])
            )
            for _ in range(reps):
                times["fast"].append(timed(lambda: numerical_loss_and_gradient(net, x, t)))
                times["fast1"].append(
                    timed(lambda: numerical_loss_and_gradient(net, x, t, n_threads=1), cpu["fast1"])
                )
    scale = n_params / n_subset
    book = {k: statistics.median(times[k]) * scale for k in ("book", "book1")}
    fast = {k: statistics.median(times[k]) for k in ("fast", "fast1")}
    baseline = min(book.values())

    print(f"\ntextbook, timed on {n_subset:,} random parameters and scaled x{scale:.2f} to all "
          f"{n_params:,} (median of {rounds} rounds):")  # fmt: skip
    print(f"  default BLAS threads: {book['book']:8.2f} s/iteration")
    print(f"  1 BLAS thread:        {book['book1']:8.2f} s/iteration")
    print(f"fast (median of {rounds * reps}):")
    print(f"  {threads} threads: {fast['fast'] * 1e3:8.1f} ms/iteration")
    print(f"  1 thread:  {fast['fast1'] * 1e3:8.1f} ms/iteration")
    ratio = baseline / fast["fast"]
    print(f"\nratio textbook / fast: {ratio:,.0f}x ({baseline / fast['fast1']:,.0f}x on 1 thread)"
          f" -> goal >= {GOAL}x {'met' if ratio >= GOAL else 'NOT met'}")  # fmt: skip
    print(f"projected {ITERS:,} iterations, gradients only: textbook {baseline * ITERS / 3600:.1f}"
          f" h, fast {fast['fast'] * ITERS / 60:.1f} min ({fast['fast1'] * ITERS / 60:.1f} min "
          f"on 1 thread)")  # fmt: skip

    work = statistics.median(cpu["book1"]) * scale / statistics.median(cpu["fast1"])
    print(f"CPU-time ratio, one thread each: {work:,.0f}x (less sensitive to other processes' "
          f"load; the {threads}-thread wall ratio adds the parallel speed-up)")  # fmt: skip

    _, grads = numerical_loss_and_gradient(net, x, t)
    book_grad = textbook_gradient_of(f, params, picks)
    fast_grad = np.array([grads[key][idx] for key, idx in picks])
    diff = np.max(np.abs(fast_grad - book_grad)) / np.max(np.abs(book_grad))
    print(f"check on the subset: max |fast - textbook| / max |textbook| = {diff:.1e} (the book's "
          f"loss adds 1e-7 inside the log, the library's does not)")  # fmt: skip
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
