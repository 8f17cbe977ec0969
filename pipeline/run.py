"""``run(cfg, job)``: one job, from a composed config to a tracked result.

The stages are plain functions (``load_data`` -> ``train`` -> ``evaluate``, or ``descend``
for ``task=gradient_descent``); this module wires them to the MLflow edge
(``pipeline.tracking.recorder``). ``pipeline.__main__`` is the Hydra entry calling it.
"""

from __future__ import annotations

import functools
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf
from threadpoolctl import threadpool_limits

from pipeline.config import compute_dtype, validate
from pipeline.progress import make_progress
from pipeline.stages.data import Dataset, load_data
from pipeline.stages.descent import descend
from pipeline.stages.evaluate import evaluate
from pipeline.stages.train import History, train
from pipeline.tracking.messages import LogDescentFigure, LogTrainingFigures
from pipeline.tracking.provenance import weights_sha256
from pipeline.tracking.recorder import JobInfo, Recorder, RunSink, status_after

log = logging.getLogger(__name__)
EXAMPLE_ROWS = 5  # test rows a run's MLflow model shows as its input example


def run(cfg: Any, job: JobInfo | None = None) -> dict[str, Any]:
    """Run the job ``cfg`` describes; returns its final metrics (and run id when tracked)."""
    validate(cfg)
    job = job or JobInfo(output_dir=Path(tempfile.mkdtemp(prefix="scratchnn-run-")))
    with threadpool_limits(limits=cfg.train.blas_threads):
        if cfg.task == "gradient_descent":
            return run_gradient_descent(cfg, job)
        return run_training(cfg, job)


def run_name(cfg: Any) -> str:
    """A name a person can read, e.g. ``lr=0.1 bs=100 h=50 analytic``."""
    if cfg.task == "gradient_descent":
        return f"gradient descent lr={cfg.gd.lr:g}"
    t = cfg.train
    return f"lr={t.lr:g} bs={t.batch_size} h={cfg.model.hidden_size} {t.gradient}"


def run_training(cfg: Any, job: JobInfo) -> dict[str, Any]:
    """load_data -> train -> evaluate, recorded in MLflow unless ``tracking.enabled`` is off."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    recorder = Recorder(cfg, job, resolved) if cfg.tracking.enabled else None
    dtype = compute_dtype(cfg)
    data = _load_data(json.dumps(resolved["data"]), dtype, cfg.seed)
    if recorder is None:
        net, history = _train(cfg, data, None, job)
        return _outcome(net, history, data, None)[0]
    twin = recorder.finished_twin() if job.in_sweep and not cfg.force else None
    if twin is not None:  # a resumed sweep: this job finished earlier
        log.info("skipped %s: run %s finished earlier", run_name(cfg), twin["run_id"])
        recorder.report_to_parent(twin["run_id"])
        return {**twin["metrics"], "run_id": twin["run_id"], "reused": True}
    tags = {"gradient": cfg.train.gradient, "data_sha256": data.sha256, "dtype": dtype}
    sink = recorder.start(run_name(cfg), tags)
    try:
        net, history = _train(cfg, data, sink, job)
        result, confusion = _outcome(net, history, data, recorder)
        _save(recorder, net, history, confusion, result, data.x_test[:EXAMPLE_ROWS])
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


def _train(cfg: Any, data: Dataset, sink: RunSink | None, job: JobInfo):
    progress = make_progress(cfg.progress, cfg.train.iters, run_name(cfg), job.in_sweep)
    threads = cfg.train.numerical_threads or (1 if job.in_sweep else None)  # None: every core
    train_cfg = OmegaConf.merge(cfg.train, {"numerical_threads": threads})
    try:
        return train(data, cfg.model, train_cfg, cfg.seed, sink, progress)
    finally:
        if progress:
            progress.close()


def _outcome(net, history: History, data: Dataset, recorder: Recorder | None):
    """(final metrics or the divergence, the test confusion matrix or None)."""
    if history.diverged_at is not None:
        log.warning("%s", history.stop_reason)
        reason = {"diverged_at": history.diverged_at, "stop_reason": history.stop_reason}
        if recorder:
            recorder.set_tags({key: str(value) for key, value in reason.items()})
        return reason, None
    metrics, confusion = evaluate(net, data)
    if recorder:
        recorder.log_metrics(metrics)
    return metrics, confusion


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


def run_gradient_descent(cfg: Any, job: JobInfo) -> dict[str, Any]:
    """The notebook's gradient descent; logs the path and its figure when tracked."""
    path, values = descend(cfg.gd)
    result = {"x0": float(path[-1, 0]), "x1": float(path[-1, 1]), "f": float(values[-1])}
    if not cfg.tracking.enabled:
        return result
    recorder = Recorder(cfg, job, OmegaConf.to_container(cfg, resolve=True))
    sink = recorder.start(run_name(cfg), {"task": "gradient_descent"})
    try:
        steps = np.arange(len(path))
        for key, series in (("x0", path[:, 0]), ("x1", path[:, 1]), ("f", values)):
            sink.log_series(key, steps, series)
        if cfg.tracking.log_figures:
            recorder.log(LogDescentFigure(path.tolist(), float(cfg.gd.lr)))
        job.output_dir.mkdir(parents=True, exist_ok=True)
        np.savetxt(job.output_dir / "path.csv", path, delimiter=",", header="x0,x1", comments="")
        recorder.save_file(job.output_dir / "path.csv")
    except BaseException as error:
        recorder.end(status_after(error))
        raise
    return {**result, "run_id": recorder.end("FINISHED")}
