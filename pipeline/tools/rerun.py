"""``python -m pipeline.tools.rerun RUN_ID``: execute a logged run again, compare point by point.

The rerun reads the run's logged resolved config, runs it as a new run tagged
``rerun_of=RUN_ID`` in the same store, then compares every logged metric point and the
weights' sha256. Exit status 0 only when everything is identical.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from pipeline.config import ConfigError, as_logged, project_config
from pipeline.errors import ExitCode, fail
from pipeline.stages.data.mnist import MnistUnavailableError
from pipeline.tracking import provenance
from pipeline.tracking.lookup import download, metric_points, open_run
from pipeline.tracking.recorder import CONFIG_DIR, CONFIG_FILE, JobInfo, flatten
from pipeline.tracking.store import TrackingError, resolve_uri

PROVENANCE_TAGS = ("git_commit", "data_sha256", "numpy_version", "code_version")
TRAINING_ORDER = ("train_loss", "train_acc", "val_acc", "val_loss", "test_acc")  # first: first made
CONFIG_ARTIFACT = f"{CONFIG_DIR}/{CONFIG_FILE}"


def _training_order(key: str) -> tuple[int, str]:
    return (TRAINING_ORDER.index(key) if key in TRAINING_ORDER else len(TRAINING_ORDER), key)


def logged_config(client: Any, run_id: str, uri: str) -> Any:
    """The run's resolved config, typed by the schema, logging to the same store; a key the
    run predates takes the value that computes as it did (``config.as_logged``)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = download(client, run_id, CONFIG_ARTIFACT, tmp)
        if path is None:
            raise TrackingError(f"run {run_id} has no {CONFIG_ARTIFACT}: it cannot be rerun")
        cfg = as_logged(OmegaConf.load(path))
    cfg.tracking.uri, cfg.force = uri, True
    return cfg


def first_difference(client: Any, original: Any, rerun: Any) -> str | None:
    """``None`` when every metric point of the original and the weights match, else what
    differs first. Metrics only the rerun has come from keys the run predates (a feature added
    since, e.g. the gradient check): ``rerun`` names them, they are no difference."""
    keys = sorted(original.data.metrics, key=_training_order)
    for key in keys:
        before = metric_points(client, original.info.run_id, key)
        after = metric_points(client, rerun.info.run_id, key)
        if len(before) != len(after):
            return f"{key}: {len(before)} points originally, {len(after)} now"
        for (step, old), (_, new) in zip(before, after, strict=True):
            if old != new and not (old != old and new != new):  # NaN equals NaN here
                return (
                    f"{key} at step {step}: {old!r} originally, {new!r} now (diff {new - old:+.3g})"
                )
    old_sha = original.data.tags.get("weights_sha256")
    new_sha = rerun.data.tags.get("weights_sha256")
    if old_sha != new_sha:
        return f"weights sha256: {old_sha} originally, {new_sha} now"
    return None


def provenance_warnings(original: Any, rerun: Any) -> list[str]:
    """A warning per provenance tag (commit, data, numpy, code) that changed."""
    warnings = []
    for tag in PROVENANCE_TAGS:
        before, after = original.data.tags.get(tag), rerun.data.tags.get(tag)
        if before != after:
            warnings.append(f"warning: {tag} differs: {before} originally, {after} now")
    return warnings


def param_differences(original: Any, cfg: Any) -> list[str]:
    """Params of the logged config that differ from the params the run logged."""
    now = flatten(OmegaConf.to_container(cfg, resolve=True))
    return [
        f"{key}: {value} logged as param, {now.get(key)} in the logged config"
        for key, value in sorted(original.data.params.items())
        if key in now and now[key] != value and provenance.is_semantic(key)
    ]


def rerun(run_id: str, uri: str, outputs_dir: str) -> ExitCode:
    """Rerun ``run_id`` and print the verdict; returns the exit status."""
    from pipeline.run import run

    client, original = open_run(uri, run_id)
    cfg = logged_config(client, run_id, uri)
    for line in param_differences(original, cfg):
        print(f"warning: {line}")
    out = Path(outputs_dir) / "reruns" / run_id / time.strftime("%Y-%m-%d_%H-%M-%S")
    command = f"python -m pipeline.tools.rerun {run_id}"
    result = run(cfg, JobInfo(output_dir=out, tags={"rerun_of": run_id}, command=command))
    _, again = open_run(uri, result["run_id"])
    for line in provenance_warnings(original, again):
        print(line)
    difference = first_difference(client, original, again)
    added = sorted(set(again.data.metrics) - set(original.data.metrics))
    if added:
        print(f"note: the rerun also logs metrics the original predates: {', '.join(added)}")
    if difference is None:
        print(f"identical: rerun {again.info.run_id} reproduces run {run_id} bit for bit")
        return ExitCode.OK
    print(f"different: rerun {again.info.run_id} of run {run_id}: first difference: {difference}")
    return ExitCode.FAILED


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_id")
    parser.add_argument(
        "--tracking-uri", default=None, help="default: $MLFLOW_TRACKING_URI or outputs/mlflow.db"
    )
    parser.add_argument("--outputs-dir", default=project_config().outputs_dir)
    args = parser.parse_args(argv)
    uri = resolve_uri(args.tracking_uri, args.outputs_dir)
    try:
        sys.exit(rerun(args.run_id, uri, args.outputs_dir))
    except ConfigError as error:
        fail(error, ExitCode.BAD_INPUT)
    except (TrackingError, MnistUnavailableError) as error:
        fail(error, ExitCode.FAILED)


if __name__ == "__main__":
    main()
