"""Benchmark of training on the book's configuration: lean numpy loop vs the project (vs torch).

Run: ``python tests/benchmarks/bench_train.py [--quick] [--reps N] [--threads 1,2]``

The configuration of the book's ch.4 notebook: 784-50-10 sigmoid net, batch 100 sampled with
replacement, lr 0.1, 10,000 iterations, full-set train and test accuracy every epoch (600
iterations: 17 evaluations). Implementations, timed alternately in this one process, each
repetition running every (implementation, BLAS threads) pair once, in a rotating order:

* lean: ``lean_textbook.run_lean``, a careful numpy user's float64 loop (the baseline);
* project: ``run_project`` below, the pipeline's train stage: float32 ``TwoLayerNet`` +
  ``scratchnn.fast.sgd`` (``train.impl=fast``);
* torch: the same net in PyTorch eager, float32, if ``import torch`` works (else skipped).

Every time covers the whole loop with its evaluations (and the one dtype conversion of the
data). BLAS threads are pinned with threadpoolctl (torch also ``torch.set_num_threads``).
Printed: median wall times, ratios, final test accuracies, and the median CPU time of the
process, which a busy machine inflates less than wall time for 1-thread runs (it counts the
spinning of idle BLAS threads for 2-thread runs).
Goals (issue 7): project >= 2.5x faster than lean at equal test accuracy (within 0.5 pp), and
faster than torch. Times are printed, never
asserted: the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
from lean_textbook import run_lean
from threadpoolctl import threadpool_limits

from pipeline.stages.data import Dataset
from pipeline.stages.train import train

SPEEDUP_GOAL = 2.5
ACCURACY_TOLERANCE = 0.005
Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def run_project(
    x_train: np.ndarray,
    t_train: np.ndarray,
    x_test: np.ndarray,
    t_test: np.ndarray,
    iters: int,
    batch_size: int,
    lr: float,
    hidden: int,
    seed: int,
) -> tuple[float, float]:
    """The pipeline's train stage on the same config; returns (seconds, final test acc).

    ``pipeline.stages.train.train`` as ``make train ARGS='experiment=book
    train.blas_threads=N'`` runs it, N being the BLAS threads in force: float32 (the
    pipeline's ``data.dtype=auto`` for analytic training, converted here inside the timing),
    the same sampling with replacement and the book's epoch schedule.
    """
    start = time.perf_counter()
    x_train = np.asarray(x_train, dtype=np.float32)
    data = Dataset(
        x_train=x_train,
        t_train=t_train,
        x_val=x_train[:0],  # the book's run: no validation split
        t_val=t_train[:0],
        x_test=np.asarray(x_test, dtype=np.float32),
        t_test=t_test,
        n_classes=int(t_train.max()) + 1,
        sha256="",
        digests={},
    )
    model_cfg = SimpleNamespace(hidden_size=hidden, weight_init_std=0.01, activation="sigmoid")
    train_cfg = SimpleNamespace(
        gradient="analytic", impl="fast", lr=lr, batch_size=batch_size, iters=iters,
        diverge_factor=10.0,
    )  # fmt: skip
    _, history = train(data, model_cfg, train_cfg, seed)
    return time.perf_counter() - start, history.test_acc[-1]


def run_torch(
    x_train: np.ndarray,
    t_train: np.ndarray,
    x_test: np.ndarray,
    t_test: np.ndarray,
    iters: int,
    batch_size: int,
    lr: float,
    hidden: int,
    seed: int,
) -> tuple[float, float]:
    """The same loop in PyTorch eager, float32, ``torch.optim.SGD``; (seconds, test acc)."""
    import torch

    start = time.perf_counter()
    torch.manual_seed(seed)
    xs = torch.from_numpy(np.asarray(x_train, dtype=np.float32))
    ts = torch.from_numpy(np.asarray(t_train, dtype=np.int64))
    xt = torch.from_numpy(np.asarray(x_test, dtype=np.float32))
    tt = torch.from_numpy(np.asarray(t_test, dtype=np.int64))
    train_size, n_in = xs.shape
    n_classes = int(ts.max()) + 1
    model = torch.nn.Sequential(
        torch.nn.Linear(n_in, hidden), torch.nn.Sigmoid(), torch.nn.Linear(hidden, n_classes)
    )
    with torch.no_grad():  # the book's init: 0.01 * N(0, 1) weights, zero biases
        for layer in (model[0], model[2]):
            layer.weight.normal_(0.0, 0.01)
            layer.bias.zero_()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    iter_per_epoch = max(train_size / batch_size, 1)
    losses = torch.empty(iters)
    train_accs, test_accs = [], []

    def acc(x: torch.Tensor, t: torch.Tensor) -> float:
        with torch.no_grad():
            return (model(x).argmax(dim=1) == t).float().mean().item()

    for i in range(iters):
        idx = torch.randint(0, train_size, (batch_size,))
        loss = loss_fn(model(xs[idx]), ts[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses[i] = loss.detach()
        if i % iter_per_epoch == 0:
            train_accs.append(acc(xs, ts))
            test_accs.append(acc(xt, tt))
    return time.perf_counter() - start, test_accs[-1]


def load_data() -> tuple[Arrays, str]:
    """Full MNIST (float32 in [0, 1], int labels) or, if unavailable, a synthetic stand-in."""
    try:
        from pipeline.stages.data import load_mnist

        (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, flatten=True)
        source = "MNIST (pipeline.stages.data.load_mnist)"
    except Exception as exc:  # any failure: fall back, and say so
        rng = np.random.default_rng(0)
        centers = rng.random((10, 784), dtype=np.float32)
        t_train, t_test = rng.integers(0, 10, 60000), rng.integers(0, 10, 10000)
        noise = rng.random((70000, 784), dtype=np.float32)
        x = 0.3 * centers[np.concatenate([t_train, t_test])] + 0.7 * noise
        x_train, x_test = x[:60000], x[60000:]
        source = f"SYNTHETIC data, NOT MNIST (load_mnist failed: {type(exc).__name__}: {exc})"
    return (x_train, t_train, x_test, t_test), source


def torch_or_reason() -> tuple[Callable | None, str]:
    """``run_torch`` if ``import torch`` works, else None and why."""
    try:
        import torch
    except ImportError as exc:
        return None, f"torch: skipped, not importable ({exc}); pip install torch to compare"
    return run_torch, f"torch {torch.__version__}: PyTorch eager float32 reference"


def cpu_seconds() -> float:
    """CPU time of this process and of its children that have ended."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def time_all(impls: dict, data: Arrays, config: dict, threads: list[int], reps: int) -> dict:
    """{(name, threads): [(wall s, cpu s, test acc), ...]}: each pair once per repetition,
    the order rotating from one repetition to the next."""
    pairs = [(name, th) for name in impls for th in threads]
    results: dict = {pair: [] for pair in pairs}
    for fn in impls.values():  # warm-up: imports, first-call costs, page faults
        with threadpool_limits(limits=1):
            fn(*data, **{**config, "iters": 20})
    for rep in range(reps):
        shift = rep % len(pairs)
        for name, th in pairs[shift:] + pairs[:shift]:
            with threadpool_limits(limits=th):
                if name == "torch":
                    import torch

                    torch.set_num_threads(th)
                cpu = cpu_seconds()
                seconds, acc = impls[name](*data, **config)
                cpu = cpu_seconds() - cpu
            results[name, th].append((seconds, cpu, acc))
            print(
                f"  rep {rep + 1}/{reps}  {name:8s} {th} thread(s): wall {seconds:6.2f} s, "
                f"cpu {cpu:6.2f} s, test acc {acc:.4f}",
                flush=True,
            )
    return results


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(results: dict, threads: list[int]) -> None:
    """Print medians per (implementation, threads), the fastest thread count and the ratios."""
    wall = {pair: statistics.median(r[0] for r in runs) for pair, runs in results.items()}
    cpu = {pair: statistics.median(r[1] for r in runs) for pair, runs in results.items()}
    acc = {pair: runs[-1][2] for pair, runs in results.items()}
    names = list(dict.fromkeys(name for name, _ in results))
    print("\nmedians over the repetitions (wall s / process cpu s), final test accuracy")
    for name in names:
        cells = "   ".join(
            f"{th} thread(s): {wall[name, th]:6.2f} / {cpu[name, th]:6.2f} s" for th in threads
        )
        print(f"  {name:8s} {cells}   test acc {acc[name, threads[0]]:.4f}")
    best = {name: min(threads, key=lambda th, n=name: wall[n, th]) for name in names}
    print("fastest BLAS thread count (median wall): " + ", ".join(f"{n} {best[n]}" for n in names))
    for th in threads:
        print(
            f"lean / project at {th} thread(s): wall {wall['lean', th] / wall['project', th]:.2f}x,"
            f" cpu {cpu['lean', th] / cpu['project', th]:.2f}x"
        )
    lean, proj = ("lean", best["lean"]), ("project", best["project"])
    speedup, gap = wall[lean] / wall[proj], abs(acc[lean] - acc[proj])
    print(
        f"RESULT lean {wall[lean]:.2f} s ({lean[1]} thr) vs project {wall[proj]:.2f} s "
        f"({proj[1]} thr): {speedup:.2f}x faster (goal >= {SPEEDUP_GOAL}x: "
        f"{_met(speedup >= SPEEDUP_GOAL)}); test acc lean {acc[lean]:.4f}, project "
        f"{acc[proj]:.4f}, gap {100 * gap:.2f} pp (goal <= {100 * ACCURACY_TOLERANCE:.1f} pp: "
        f"{_met(gap <= ACCURACY_TOLERANCE)})"
    )
    if "torch" in names:
        tor = ("torch", best["torch"])
        ratio = wall[tor] / wall[proj]
        print(
            f"RESULT torch {wall[tor]:.2f} s ({tor[1]} thr) vs project {wall[proj]:.2f} s: "
            f"{ratio:.2f}x faster (goal > 1x: {_met(ratio > 1)}); torch test acc {acc[tor]:.4f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,800 iterations, 1 repetition")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--threads", default="1,2", help="BLAS thread counts (default 1,2)")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    args = parser.parse_args(argv)
    threads = [int(th) for th in args.threads.split(",")]
    reps = 1 if args.quick else args.reps
    config = {"iters": 1800 if args.quick else 10000, "batch_size": 100, "lr": 0.1}
    config |= {"hidden": 50, "seed": 0}
    data, source = load_data()
    per_epoch = max(len(data[0]) / config["batch_size"], 1)
    n_evals = sum(1 for i in range(config["iters"]) if i % per_epoch == 0)
    print(f"data: {source}; train {data[0].shape}, test {data[2].shape}")
    print(f"config: {config}, {n_evals} evaluations; {reps} repetition(s); threads {threads}")
    impls: dict = {"lean": lambda *a, **k: run_lean(*a, **k)[:2], "project": run_project}
    torch_run, torch_note = (None, "torch: left out (--no-torch)")
    if not args.no_torch:
        torch_run, torch_note = torch_or_reason()
    print(torch_note)
    if torch_run is not None:
        impls["torch"] = torch_run
    report(time_all(impls, data, config, threads, reps), threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
