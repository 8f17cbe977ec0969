"""Benchmark of the figures: what each costs to draw, and what the two digit figures add to a
sweep job (which draws its figures in its own process, on a training core).

Run: ``python tests/benchmarks/bench_figures.py [--quick] [--reps N]``

(a) Importing matplotlib and the figure modules, in a fresh process (median of N).
(b) Each figure built and written as PNG (what ``MlflowClient.log_figure`` does before the
    upload), in a warm process, median of N: a run's five figures (W1 for 25, 50 and 100
    hidden units) and the sweep's two. Inputs are random: the cost does not depend on them.
(c) W1 drawn the slow way, one subplot per hidden unit (100), once: why ``pipeline.figures.digits``
    draws one mosaic.
(d) ``run_figures.draw_digits`` (drawing and saving both PNGs) plus the job's
    ``misclassified.npz`` and the upload of the PNGs to a run of a SQLite store: the wall
    time the digit figures add to a sweep job, median of N.
Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from timing import ROOT, template_store

CODE_IMPORT = (
    "import time; t = time.perf_counter(); import matplotlib.figure; "
    "from pipeline.figures import training, digits; print(time.perf_counter() - t)"
)


def median_seconds(make, reps: int) -> float:
    """Median wall time of ``make()`` (a Figure) + writing it as PNG, after one warm-up."""
    times = []
    for _ in range(reps + 1):
        start = time.perf_counter()
        make().savefig(io.BytesIO(), format="png")
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def figure_makers(rng: np.random.Generator) -> dict:
    from pipeline.figures import digits, sweep_accuracy, sweep_losses, training

    losses = 2.3 * np.exp(-np.arange(6000) / 800) + rng.random(6000) * 0.3
    images, counts = rng.random((25, 28, 28)), rng.integers(0, 99, (10, 10))
    labels = rng.integers(0, 10, 25), rng.integers(0, 10, 25)
    grid = [{"a": a, "b": b, "train.lr": lr} for a in "123" for b in "456" for lr in "789"]
    makers = {
        "loss_curve (6,000 points)": lambda: training.loss_curve(losses),
        "accuracy_curves (11 epochs)": lambda: training.accuracy_curves(
            np.arange(11.0), *rng.random((2, 11))
        ),
        "confusion_matrix (10 x 10)": lambda: training.confusion_matrix(counts),
        "misclassified (25 digits)": lambda: digits.misclassified(images, *labels, 60, 100),
        "sweep loss_panels (27 x 6,000)": lambda: sweep_losses.loss_panels(
            grid, [losses] * 27, "train.lr", ["a", "b"]
        ),
        "sweep accuracy_heatmaps (3 x 3 x 3)": lambda: sweep_accuracy.accuracy_heatmaps(
            grid, list(rng.random(27)), [""] * 27, "train.lr", "a", ["b"]
        ),
    }
    for hidden in (25, 50, 100):
        w1 = rng.normal(size=(784, hidden))
        makers[f"w1_filters ({hidden} units)"] = lambda w=w1: digits.w1_filters(w, (28, 28))
    return makers


def w1_as_subplots(w1: np.ndarray):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 8))
    for j, ax in enumerate(fig.subplots(10, 10).ravel()):
        ax.imshow(w1[:, j].reshape(28, 28), cmap="RdBu_r")
        ax.set_axis_off()
    return fig


def digit_figures_in_a_job(folder: Path, reps: int) -> float:
    """Median seconds of writing misclassified.npz, drawing the two digit figures and
    uploading them to a run."""
    import shutil

    from mlflow.tracking import MlflowClient

    from pipeline.jobs.run_figures import draw_digits
    from pipeline.tracking.mlflow_run import MlflowRun

    shutil.copyfile(template_store(folder / "template"), folder / "mlflow.db")
    client = MlflowClient(f"sqlite:///{folder}/mlflow.db")
    experiment = client.create_experiment("bench", artifact_location=str(folder / "artifacts"))
    rng = np.random.default_rng(0)
    w1 = rng.normal(size=(784, 50))
    times = []
    for rep in range(reps + 1):
        run = MlflowRun.start(client, experiment, "bench", {})
        start = time.perf_counter()
        images, wrong = rng.random((100, 784)), rng.integers(0, 10, (2, 25))
        arrays = {"images": images[:25], "true": wrong[0], "predicted": wrong[1],
                  "index": np.arange(25), "n_wrong": 60, "n_test": 100}  # fmt: skip
        np.savez(folder / "misclassified.npz", **arrays)
        draw_digits(folder / f"figures-{rep}", w1, arrays, (28, 28))
        run.log_artifact(folder / f"figures-{rep}", "figures")
        times.append(time.perf_counter() - start)
        run.end("FINISHED")
    return statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repetitions")
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    reps = 3 if args.quick else args.reps
    command = [sys.executable, "-c", CODE_IMPORT]
    imports = [
        float(subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout)
        for _ in range(reps)
    ]
    print(f"(a) import matplotlib + figure modules: {statistics.median(imports) * 1000:.0f} ms")
    rng = np.random.default_rng(0)
    print("(b) build + PNG, median of", reps)
    for name, make in figure_makers(rng).items():
        print(f"    {name:38s} {median_seconds(make, reps) * 1000:6.0f} ms")
    slow = median_seconds(lambda: w1_as_subplots(rng.normal(size=(784, 100))), 1)
    print(f"(c) w1 as 100 subplots (100 units)       {slow * 1000:6.0f} ms")
    with tempfile.TemporaryDirectory() as tmp:
        added = digit_figures_in_a_job(Path(tmp), reps)
    print(f"(d) added to a sweep job (50 units, store upload included): {added * 1000:.0f} ms")


if __name__ == "__main__":
    main()
