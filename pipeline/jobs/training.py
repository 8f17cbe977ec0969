"""``task=train``: load_data -> train -> evaluate, wired to the MLflow edge.

The stages are plain functions (``pipeline.stages``); this module runs them for one job and
records what they produce through ``pipeline.tracking.recorder``: metrics, the gradient
check, datasets, ``history.npz``, ``weights.npz``, the network as a model, and the figures
the job draws (``run_figures``).
"""

from __future__ import annotations

import functools
import json
import logging
import math
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from pipeline.config import compute_dtype
from pipeline.jobs import run_figures
from pipeline.progress import make_progress
from pipeline.stages.data import Dataset, generator_seed, load_data
from pipeline.stages.data.mnist_sources import SPECS
from pipeline.stages.evaluate import evaluate, misclassified
from pipeline.stages.gradient_check import check_gradients, failing
from pipeline.stages.history import History, MetricsSink, NullSink, record_end
from pipeline.stages.steps import BACKPROP
from pipeline.stages.train import iterations, make_network, train
from pipeline.tracking.provenance import weights_sha256
from pipeline.tracking.recorder import JobInfo, Recorder
from pipeline.tracking.run_status import FAILED, FINISHED, status_after
from scratchnn.functions import labels_of

log = logging.getLogger(__name__)
IMAGE_SHAPE = SPECS["test_images"].shape[1:]  # MNIST's: data of this many pixels gets digit figures
DIGITS_SHOWN = 25  # misclassified test digits drawn in figures/misclassified.png
EXAMPLE_ROWS = 5  # test rows a run's MLflow model shows as its input example


def run_name(cfg: Any) -> str:
    """A name a person can read, e.g. ``lr=0.1 bs=100 h=50 sgd sigmoid analytic``."""
    t, hidden, activation = cfg.train, cfg.model.hidden_size, cfg.model.activation
    return f"lr={t.lr:g} bs={t.batch_size} h={hidden} {t.optimizer} {activation} {t.gradient}"


def run_training(cfg: Any, job: JobInfo) -> dict[str, Any]:
    """load_data -> train -> evaluate, recorded in MLflow unless ``tracking.enabled`` is off."""
    dtype = compute_dtype(cfg)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    resolved["data"]["dtype"] = dtype  # its params say what it computes in, never "auto"
    recorder = Recorder(cfg, job, resolved) if cfg.tracking.enabled else None
    data = _load_data(json.dumps(resolved["data"]), dtype, generator_seed(cfg.data, cfg.seed))
    if recorder is None:
        net, history, _ = _train(cfg, data, NullSink(), job)
        return _outcome(net, history, data, None)[0]
    twin = recorder.finished_twin() if job.in_sweep and not cfg.force else None
    if twin is not None:  # a resumed sweep: this job finished earlier
        log.info("skipped %s: run %s finished earlier", run_name(cfg), twin["run_id"])
        recorder.reuse(twin["run_id"])
        return {**twin["metrics"], "run_id": twin["run_id"], "reused": True}
    tags = {"gradient": cfg.train.gradient, "data_sha256": data.sha256}
    sink = recorder.start(run_name(cfg), tags)
    try:
        recorder.log_datasets(data)
        net, history, grad_check = _train(cfg, data, sink, job)
        if grad_check:
            recorder.set_tags({"grad_check": grad_check})
        result, confusion, predicted = _outcome(net, history, data, recorder)
        _save(recorder, net, history, result, data.x_test[:EXAMPLE_ROWS])
        if cfg.tracking.log_figures:  # drawn here while the channel stores the model
            _log_figures(recorder, data, net, history, confusion, predicted)
    except BaseException as error:  # the run ends KILLED (Ctrl-C, SIGTERM) or FAILED
        recorder.end(status_after(error))
        raise
    run_id = recorder.end(FAILED if history.diverged_at is not None else FINISHED)
    return {**result, "run_id": run_id}


@functools.lru_cache(maxsize=1)
def _load_data(data_cfg_json: str, dtype: str, seed: int | None) -> Dataset:
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
    checks = [_check_gradients(cfg, initial, data, 0, sink)] if checked else []
    total = iterations(cfg.train, len(data.x_train))
    progress = make_progress(cfg.progress, total, run_name(cfg), job.in_sweep)
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
        checks.append(_check_gradients(cfg, net, data, history.iters_run, sink))
    return net, history, verdict(checks)


def _check_gradients(cfg: Any, net, data: Dataset, step: int, sink: MetricsSink):
    """The book's gradient check of the gradient the run's step computes, at iteration
    ``step``: ``grad_check_<key>`` metrics, and a warning naming each key above
    ``train.grad_check_tol``; returns (those keys, described; entries left out at a kink)."""
    rows, tol = cfg.train.grad_check_rows, cfg.train.grad_check_tol
    labels = labels_of(data.t_train[:rows])
    check = check_gradients(net, data.x_train[:rows], labels, cfg.train.h, BACKPROP[cfg.train.impl])
    for key, error in check.errors.items():
        sink.log_series(f"grad_check_{key}", np.array([step]), np.array([error]))
    failures = [
        f"{key} at iteration {step} ({check.errors[key]:.2g})" for key in failing(check.errors, tol)
    ]
    for failure in failures:
        log.warning("gradient check: backprop and central differences differ for %s > "
                    "train.grad_check_tol=%g", failure, tol)  # fmt: skip
    return failures, check.skipped


def verdict(checks: list[tuple[list[str], int]]) -> str:
    """The ``grad_check`` tag: ``passed`` (with how many entries were left out at a ReLU
    kink, if any), or ``failed: <key> at iteration <i> (<error>); ...``."""
    failures = [failure for found, _ in checks for failure in found]
    if failures:
        return "failed: " + "; ".join(failures)
    skipped = sum(n for _, n in checks)
    return f"passed ({skipped} entries at a ReLU kink left out)" if skipped else "passed"


def _outcome(net, history: History, data: Dataset, recorder: Recorder | None):
    """(final metrics or the divergence, the test confusion matrix and predicted labels or
    None, None). A tracked run also logs the iterations and epochs it ran and, unless it
    diverged, its final accuracies as the last points of their curves (``record_end``)."""
    if recorder:
        recorder.log_metrics({"iters_run": history.iters_run, "epochs_run": history.epochs_run})
    if history.diverged_at is not None:
        log.warning("%s", history.stop_reason)
        reason = {"diverged_at": history.diverged_at, "stop_reason": history.stop_reason}
        if recorder:
            recorder.set_tags({key: str(value) for key, value in reason.items()})
        return reason, None, None
    metrics, confusion, predicted = evaluate(net, data)
    record_end(history, metrics, recorder.sink if recorder else NullSink())
    if recorder:
        recorder.log_metrics(metrics)
    return metrics, confusion, predicted


def _save(recorder: Recorder, net, history: History, result: dict, example) -> None:
    """``history.npz`` and, unless the run diverged, ``weights.npz`` and the network as an
    MLflow logged model with the final metrics of ``result`` (``example``: a few test rows,
    its input example)."""
    recorder.save_arrays(
        "history", losses=history.losses[: history.iters_run],
        epochs=np.array(history.epochs, dtype=np.int64), train_acc=np.array(history.train_acc),
        val_acc=np.array(history.val_acc), val_loss=np.array(history.val_loss),
        test_acc=np.array(history.test_acc),
    )  # fmt: skip
    if history.diverged_at is None:
        final = list(result)  # evaluate's final metrics: the model's too
        weights = recorder.save_arrays("weights", **net.params)
        result["weights_sha256"] = weights_sha256(net.params)
        recorder.set_tags({"weights_sha256": result["weights_sha256"]})
        if recorder.cfg.tracking.log_model:
            recorder.log_model(weights, net.activation, example, final)


def _log_figures(recorder: Recorder, data: Dataset, net, history: History, confusion,
                 predicted: np.ndarray | None) -> None:  # fmt: skip
    """The run's figures (``run_figures``), drawn into ``<output dir>/figures`` and logged as
    its ``figures/``: the loss and accuracy curves, the confusion matrix and, for
    MNIST-sized images (``predicted``: the test labels the net gives, None if it diverged),
    W1's columns and the first misclassified test digits, which ``misclassified.npz`` keeps."""
    folder = recorder.job.output_dir / run_figures.FIGURES_DIR
    run_figures.draw_training(folder, history, confusion)
    if predicted is not None and data.x_test.shape[1] == math.prod(IMAGE_SHAPE):
        wrong = _misclassified(recorder.job.output_dir, data, predicted)
        run_figures.draw_digits(folder, net.params["W1"], wrong, IMAGE_SHAPE)
    recorder.save_file(folder, run_figures.FIGURES_DIR)


def _misclassified(out, data: Dataset, predicted: np.ndarray) -> dict:
    """The first ``DIGITS_SHOWN`` misclassified test digits, saved as ``misclassified.npz``:
    ``images`` (n, D), ``true``, ``predicted`` and ``index`` (n,), ``n_wrong``, ``n_test``."""
    labels = labels_of(data.t_test)
    wrong = misclassified(predicted, labels, DIGITS_SHOWN)
    arrays = {
        "images": data.x_test[wrong], "true": labels[wrong], "predicted": predicted[wrong],
        "index": wrong, "n_wrong": np.count_nonzero(predicted != labels), "n_test": len(labels),
    }  # fmt: skip
    np.savez(out / "misclassified.npz", **arrays)
    return arrays
