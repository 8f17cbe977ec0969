"""``run(cfg)``: one job, from a composed config to a tracked result.

The stages are plain functions (``load_data`` -> ``train`` -> ``evaluate``); this module
wires them to tracking at the edges. ``pipeline.__main__`` is the Hydra entry calling it.
"""

from __future__ import annotations

import functools
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from threadpoolctl import threadpool_limits

from pipeline.config import validate
from pipeline.data import Dataset, load_data
from pipeline.evaluate import evaluate
from pipeline.evaluator import background_by_default
from pipeline.progress import make_progress
from pipeline.recording import JobInfo, Recorder, run_name
from pipeline.tracking import RunSink, status_after
from pipeline.train import History, train
from scratchnn import TwoLayerNet

log = logging.getLogger(__name__)


def compute_dtype(cfg: Any) -> str:
    """``data.dtype``, with ``auto`` = float32 for analytic training, float64 for numerical."""
    if cfg.data.dtype != "auto":
        return cfg.data.dtype
    return "float64" if cfg.train.gradient == "numerical" else "float32"


def run(cfg: Any, job: JobInfo | None = None) -> dict[str, Any]:
    """Run the job ``cfg`` describes; returns its final metrics (and run id when tracked)."""
    validate(cfg)
    job = job or JobInfo(output_dir=Path(tempfile.mkdtemp(prefix="scratchnn-run-")))
    with threadpool_limits(limits=cfg.train.blas_threads):
        if cfg.task == "gradient_descent":
            from pipeline.descent import run_gradient_descent

            return run_gradient_descent(cfg, job)
        return run_training(cfg, job)


def run_training(cfg: Any, job: JobInfo) -> dict[str, Any]:
    """load_data -> train -> evaluate, recorded in MLflow unless ``tracking.enabled`` is off."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    recorder = Recorder(cfg, job, resolved) if cfg.tracking.enabled else None
    dtype = compute_dtype(cfg)
    data = _load_data(json.dumps({**resolved["data"], "dtype": dtype}), cfg.seed)
    if recorder is None:
        net, history = _train(cfg, data, None, job)
        return _outcome(net, history, data, None)
    recorder.open()
    resumable = job.sweep_dir is not None and not cfg.force  # a sweep skips finished jobs
    twin = recorder.finished_twin() if resumable else None
    if twin is not None:
        log.info("skipped %s: run %s finished earlier", run_name(cfg), twin["run_id"])
        recorder.report_to_parent(twin["run_id"])
        return {**twin["metrics"], "run_id": twin["run_id"], "reused": True}
    tags = {"gradient": cfg.train.gradient, "data_sha256": data.sha256, "dtype": dtype}
    sink = recorder.start(tags)
    try:
        net, history = _train(cfg, data, sink, job)
        result = _outcome(net, history, data, sink)
        recorder.save_history(sink, history)
        if history.diverged_at is None:
            result["weights_sha256"] = recorder.save_model(sink, net.params)
            sink.set_tags({"weights_sha256": result["weights_sha256"]})
    except BaseException as error:  # the run ends KILLED (Ctrl-C, SIGTERM) or FAILED
        sink.end(status_after(error))
        raise
    run_id = sink.end("FAILED" if history.diverged_at is not None else "FINISHED")
    return {**result, "run_id": run_id}


@functools.lru_cache(maxsize=1)
def _load_data(data_cfg_json: str, seed: int) -> Dataset:
    """``load_data``, kept for the next job in this process: a sweep's joblib worker runs
    many jobs on the same data. Its arrays are read-only, so no job can change them."""
    data = load_data(json.loads(data_cfg_json), seed)
    for array in (data.x_train, data.t_train, data.x_test, data.t_test):
        array.setflags(write=False)
    return data


def _train(cfg: Any, data: Dataset, sink: RunSink | None, job: JobInfo):
    in_sweep = job.sweep_dir is not None
    progress = make_progress(cfg.progress, cfg.train.iters, run_name(cfg), in_sweep)
    threads = cfg.train.numerical_threads or (1 if in_sweep else None)  # None: every core
    background = cfg.train.background_eval
    if background is None:
        background = background_by_default(in_sweep, cfg.train.gradient, cfg.train.blas_threads)
    train_cfg = OmegaConf.merge(
        cfg.train, {"numerical_threads": threads, "background_eval": background}
    )
    try:
        return train(data, cfg.model, train_cfg, cfg.seed, sink, progress)
    finally:
        if progress:
            progress.close()


def _outcome(
    net: TwoLayerNet, history: History, data: Dataset, sink: RunSink | None
) -> dict[str, Any]:
    """Final metrics (or the divergence), with figures sent to ``sink``."""
    losses = history.losses[: history.iters_run]
    if sink:
        sink.log_figure("loss_curve", losses=losses)
        if history.train_acc:
            sink.log_figure(
                "accuracy_curves", train_acc=history.train_acc, test_acc=history.test_acc
            )
    if history.diverged_at is not None:
        log.warning("%s", history.stop_reason)
        if sink:
            sink.set_tags(
                {"diverged_at": str(history.diverged_at), "stop_reason": history.stop_reason}
            )
        return {"diverged_at": history.diverged_at, "stop_reason": history.stop_reason}
    metrics, confusion = evaluate(net, data)
    if sink:
        sink.log_metrics(metrics)
        sink.log_figure("confusion_matrix", confusion=confusion)
    return metrics
