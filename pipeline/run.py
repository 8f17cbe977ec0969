"""``run(cfg, job)``: one job, from a composed config to a tracked result.

The stages are plain functions (``load_data`` -> ``train`` -> ``evaluate``, ``descend``
for ``task=gradient_descent``, ``differentiate`` for ``task=numerical_diff``); this module
wires them to the MLflow edge (``pipeline.tracking.recorder``). ``pipeline.__main__`` is the
Hydra entry calling it.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf
from threadpoolctl import threadpool_limits

from pipeline.config import compute_dtype, validate
from pipeline.progress import make_progress
from pipeline.stages.data import Dataset, load_data
from pipeline.stages.data.mnist_sources import SPECS
from pipeline.stages.descent import descend
from pipeline.stages.evaluate import evaluate, misclassified
from pipeline.stages.gradient_check import check_gradients, failing
from pipeline.stages.numerical_diff import differentiate
from pipeline.stages.train import History, MetricsSink, NullSink, make_network, train
from pipeline.tracking.messages import LogDescentFigure, LogDigitFigures, LogTrainingFigures
from pipeline.tracking.provenance import weights_sha256
from pipeline.tracking.recorder import JobInfo, Recorder, status_after
from scratchnn.functions import labels_of

log = logging.getLogger(__name__)
IMAGE_SHAPE = SPECS["test_images"].shape[1:]  # MNIST's: data of this many pixels gets digit figures
DIGITS_SHOWN = 25  # misclassified test digits drawn in figures/misclassified.png
EXAMPLE_ROWS = 5  # test rows a run's MLflow model shows as its input example


def run(cfg: Any, job: JobInfo | None = None) -> dict[str, Any]:
    """Run the job ``cfg`` describes; returns its final metrics (and run id when tracked)."""
    validate(cfg)
    job = job or JobInfo(output_dir=Path(tempfile.mkdtemp(prefix="scratchnn-run-")))
    with threadpool_limits(limits=cfg.train.blas_threads):
        if cfg.task == "gradient_descent":
            return run_gradient_descent(cfg, job)
        if cfg.task == "numerical_diff":
            return run_numerical_diff(cfg, job)
        return run_training(cfg, job)


def run_name(cfg: Any) -> str:
    """A name a person can read, e.g. ``lr=0.1 bs=100 h=50 sgd sigmoid analytic``."""
    if cfg.task == "gradient_descent":
        return f"gradient descent lr={cfg.gd.lr:g}"
    if cfg.task == "numerical_diff":
        return f"{cfg.diff.method} x={cfg.diff.x:g} {cfg.diff.dtype}"
    t, hidden, activation = cfg.train, cfg.model.hidden_size, cfg.model.activation
    return f"lr={t.lr:g} bs={t.batch_size} h={hidden} {t.optimizer} {activation} {t.gradient}"


def run_training(cfg: Any, job: JobInfo) -> dict[str, Any]:
    """load_data -> train -> evaluate, recorded in MLflow unless ``tracking.enabled`` is off."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    recorder = Recorder(cfg, job, resolved) if cfg.tracking.enabled else None
    dtype = compute_dtype(cfg)
    data = _load_data(json.dumps(resolved["data"]), dtype, cfg.seed)
    if recorder is None:
        net, history, _ = _train(cfg, data, NullSink(), job)
        return _outcome(net, history, data, None)[0]
    twin = recorder.finished_twin() if job.in_sweep and not cfg.force else None
    if twin is not None:  # a resumed sweep: this job finished earlier
        log.info("skipped %s: run %s finished earlier", run_name(cfg), twin["run_id"])
        recorder.report_to_parent(twin["run_id"])
        return {**twin["metrics"], "run_id": twin["run_id"], "reused": True}
    tags = {"gradient": cfg.train.gradient, "data_sha256": data.sha256, "dtype": dtype}
    sink = recorder.start(run_name(cfg), tags)
    try:
        recorder.log_datasets(data)
        net, history, grad_check = _train(cfg, data, sink, job)
        if grad_check:
            recorder.set_tags({"grad_check": grad_check})
        result, confusion, predicted = _outcome(net, history, data, recorder)
        _save(recorder, net, history, confusion, result, data.x_test[:EXAMPLE_ROWS])
        if predicted is not None and cfg.tracking.log_figures:
            _log_digit_figures(recorder, data, predicted)
    except BaseException as error:  # the run ends KILLED (Ctrl-C, SIGTERM) or FAILED
        recorder.end(status_after(error))
        raise
    run_id = recorder.end("FAILED" if history.diverged_at is not None else "FINISHED")
    return {**result, "run_id": run_id}


@functools.lru_cache(maxsize=1)
def _load_data(data_cfg_json: str, dtype: str, seed: int) -> Dataset:
    """``load_data``, kept for the next job in this process: a sweep's joblib worker runs
    many jobs on the same data. Its arrays are read-only, so no job can change them."""
    data = load_data(OmegaConf.create(json.loads(data_cfg_json)), dtype, seed)
    for array in (data.x_train, data.t_train, data.x_test, data.t_test):
        array.setflags(write=False)
    return data


def _train(cfg: Any, data: Dataset, sink: MetricsSink, job: JobInfo):
    """(net, history, the gradient check's verdict: passed, failed: ..., or None if off)."""
    checked = cfg.train.grad_check and cfg.train.gradient == "analytic"  # backprop's check
    initial = make_network(data, cfg.model, cfg.seed) if checked else None  # train's own start
    failures = _check_gradients(cfg, initial, data, 0, sink) if checked else []
    progress = make_progress(cfg.progress, cfg.train.iters, run_name(cfg), job.in_sweep)
    threads = cfg.train.numerical_threads or (1 if job.in_sweep else None)  # None: every core
    train_cfg = OmegaConf.merge(cfg.train, {"numerical_threads": threads})
    try:
        net, history = train(data, cfg.model, train_cfg, cfg.seed, sink, progress)
    finally:
        if progress:
            progress.close()
    if not checked:
        return net, history, None
    if history.diverged_at is None:
        failures += _check_gradients(cfg, net, data, history.iters_run, sink)
    return net, history, ("failed: " + "; ".join(failures)) if failures else "passed"


def _check_gradients(cfg: Any, net, data: Dataset, step: int, sink: MetricsSink) -> list[str]:
    """The book's gradient check of ``net`` at iteration ``step``: ``grad_check_<key>``
    metrics, and a warning naming each key above ``train.grad_check_tol``; returns those."""
    rows, tol = cfg.train.grad_check_rows, cfg.train.grad_check_tol
    labels = labels_of(data.t_train[:rows])
    errors = check_gradients(net, data.x_train[:rows], labels, cfg.train.h)
    for key, error in errors.items():
        sink.log_series(f"grad_check_{key}", np.array([step]), np.array([error]))
    failures = [f"{key} at iteration {step} ({errors[key]:.2g})" for key in failing(errors, tol)]
    for failure in failures:
        log.warning("gradient check: backprop and central differences differ for %s > "
                    "train.grad_check_tol=%g", failure, tol)  # fmt: skip
    return failures


def _outcome(net, history: History, data: Dataset, recorder: Recorder | None):
    """(final metrics or the divergence, the test confusion matrix and predicted labels or
    None, None)."""
    if history.diverged_at is not None:
        log.warning("%s", history.stop_reason)
        reason = {"diverged_at": history.diverged_at, "stop_reason": history.stop_reason}
        if recorder:
            recorder.set_tags({key: str(value) for key, value in reason.items()})
        return reason, None, None
    metrics, confusion, predicted = evaluate(net, data)
    if recorder:
        recorder.log_metrics(metrics)
    return metrics, confusion, predicted


def _save(recorder: Recorder, net, history: History, confusion, result: dict, example) -> None:
    """The run's figures, ``history.npz`` and, unless it diverged, ``weights.npz`` and the
    network as an MLflow model (``example``: a few test rows, its input example)."""
    losses = history.losses[: history.iters_run]
    if recorder.cfg.tracking.log_figures:
        recorder.log(
            LogTrainingFigures(
                losses.tolist(), history.train_acc, history.test_acc,
                None if confusion is None else confusion.tolist(),
            )
        )  # fmt: skip
    recorder.save_arrays(
        "history", losses=losses, epochs=np.array(history.epochs, dtype=np.int64),
        train_acc=np.array(history.train_acc), test_acc=np.array(history.test_acc),
    )  # fmt: skip
    if history.diverged_at is None:
        weights = recorder.save_arrays("weights", **net.params)
        result["weights_sha256"] = weights_sha256(net.params)
        recorder.set_tags({"weights_sha256": result["weights_sha256"]})
        if recorder.cfg.tracking.log_model:
            recorder.log_model(weights, net.activation, example)


def tracked(cfg: Any, job: JobInfo, tags: dict[str, str], record) -> str:
    """Start the job's run with ``tags``, call ``record(recorder, sink)`` to log to it, and
    end it (FAILED or KILLED if ``record`` raised); returns the run id."""
    recorder = Recorder(cfg, job, OmegaConf.to_container(cfg, resolve=True))
    sink = recorder.start(run_name(cfg), tags)
    try:
        record(recorder, sink)
    except BaseException as error:
        recorder.end(status_after(error))
        raise
    return recorder.end("FINISHED")


def _log_digit_figures(recorder: Recorder, data: Dataset, predicted: np.ndarray) -> None:
    """For MNIST-sized images: W1's columns, from the ``weights.npz`` ``_save`` wrote, and the
    first misclassified test digits, from the ``misclassified.npz`` written here."""
    if data.x_test.shape[1] != math.prod(IMAGE_SHAPE):
        return
    labels = labels_of(data.t_test)
    wrong = misclassified(predicted, labels, DIGITS_SHOWN)
    out = recorder.job.output_dir
    np.savez(
        out / "misclassified.npz", images=data.x_test[wrong], true=labels[wrong],
        predicted=predicted[wrong], index=wrong, n_wrong=np.count_nonzero(predicted != labels),
        n_test=len(labels),
    )  # fmt: skip
    paths = str(out / "weights.npz"), str(out / "misclassified.npz")
    recorder.log(LogDigitFigures(*paths, list(IMAGE_SHAPE)))


def run_gradient_descent(cfg: Any, job: JobInfo) -> dict[str, Any]:
    """The notebook's gradient descent; logs the path and its figure when tracked."""
    path, values = descend(cfg.gd)
    result = {"x0": float(path[-1, 0]), "x1": float(path[-1, 1]), "f": float(values[-1])}
    if not cfg.tracking.enabled:
        return result

    def record(recorder: Recorder, sink: MetricsSink) -> None:
        steps = np.arange(len(path))
        for key, series in (("x0", path[:, 0]), ("x1", path[:, 1]), ("f", values)):
            sink.log_series(key, steps, series)
        if cfg.tracking.log_figures:
            recorder.log(LogDescentFigure(path.tolist(), float(cfg.gd.lr)))
        job.output_dir.mkdir(parents=True, exist_ok=True)
        np.savetxt(job.output_dir / "path.csv", path, delimiter=",", header="x0,x1", comments="")
        recorder.save_file(job.output_dir / "path.csv")

    return {**result, "run_id": tracked(cfg, job, {"task": "gradient_descent"}, record)}


def run_numerical_diff(cfg: Any, job: JobInfo) -> dict[str, Any]:
    """The notebook's section 4.3.1: f'(x) at h = 10**-k, k = 1 .. ``diff.k_max``.

    When tracked, metrics ``estimate`` and ``abs_error`` get a point at each step k (nan
    where h rounded to 0), ``min_abs_error`` and ``best_h`` one point, and
    ``differences.csv`` holds every (k, h, estimate, abs_error).
    """
    found = differentiate(cfg.diff.method, cfg.diff.x, cfg.diff.dtype, cfg.diff.k_max)
    best = int(np.nanargmin(found.abs_error))  # k = 1 always gives a number
    result = {"min_abs_error": float(found.abs_error[best]), "best_h": float(found.h[best])}
    if not cfg.tracking.enabled:
        return result

    def record(recorder: Recorder, sink: MetricsSink) -> None:
        sink.log_series("estimate", found.k, found.estimate)
        sink.log_series("abs_error", found.k, found.abs_error)
        recorder.log_metrics(result)
        table = np.column_stack([found.k, found.h, found.estimate, found.abs_error])
        path = job.output_dir / "differences.csv"
        job.output_dir.mkdir(parents=True, exist_ok=True)
        columns = {"fmt": ["%d", "%.17g", "%.17g", "%.17g"], "header": "k,h,estimate,abs_error"}
        np.savetxt(path, table, delimiter=",", comments="", **columns)
        recorder.save_file(path)

    tags = {"task": "numerical_diff", "dtype": cfg.diff.dtype}
    return {**result, "run_id": tracked(cfg, job, tags, record)}
