"""``python -m pipeline.tools.rerun RUN_ID``: execute a logged run again, compare point by point.

The rerun reads the run's logged resolved config, runs it as a new run tagged
``rerun_of=RUN_ID`` in the same store, with the numerics it asks for (``train.portable``:
the process starts again if its numpy loaded the other way), then compares every logged
metric point and the weights' sha256 (``tracking.comparison``). Exit status 0 only when
everything is identical; when not, it says which recorded environment differs (or that none
does: a determinism bug) and how far apart the results are.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

import pipeline.numerics as numerics
from pipeline.config import ConfigError, as_logged, project_config
from pipeline.errors import ExitCode, fail
from pipeline.stages.data import shape
from pipeline.stages.data.mnist import MnistUnavailableError
from pipeline.tools import store_options
from pipeline.tracking import provenance
from pipeline.tracking.comparison import (
    ENVIRONMENT,
    PROVENANCE,
    changed,
    explanation,
    first_difference,
)
from pipeline.tracking.lookup import download, open_run
from pipeline.tracking.recorder import CONFIG_DIR, CONFIG_FILE, JobInfo, flatten
from pipeline.tracking.store import TrackingError, resolve_uri

CONFIG_ARTIFACT = f"{CONFIG_DIR}/{CONFIG_FILE}"


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


def param_differences(original: Any, cfg: Any) -> list[str]:
    """Params of the logged config that differ from the params the run logged."""
    now = flatten(OmegaConf.to_container(cfg, resolve=True))
    return [
        f"{key}: {value} logged as param, {now.get(key)} in the logged config"
        for key, value in sorted(original.data.params.items())
        if key in now and now[key] != value and provenance.is_semantic(key)
    ]


def rerun(run_id: str, uri: str, outputs_dir: str) -> ExitCode:
    """Rerun ``run_id`` and print the verdict (and, when it differs, why it may and by how
    much: ``comparison.explanation``); returns the exit status."""
    from pipeline.run import run

    client, original = open_run(uri, run_id)
    cfg = logged_config(client, run_id, uri)
    for line in param_differences(original, cfg):
        print(f"warning: {line}")
    out = Path(outputs_dir) / "reruns" / run_id / time.strftime("%Y-%m-%d_%H-%M-%S")
    command = f"python -m pipeline.tools.rerun {run_id}"
    result = run(cfg, JobInfo(output_dir=out, tags={"rerun_of": run_id}, command=command))
    _, again = open_run(uri, result["run_id"])
    for line in changed(original, again, PROVENANCE):
        print(f"warning: {line}")
    difference = first_difference(client, original, again)
    added = sorted(set(again.data.metrics) - set(original.data.metrics))
    if added:
        print(f"note: the rerun also logs metrics the original predates: {', '.join(added)}")
    if difference is None:
        for line in changed(original, again, ENVIRONMENT):
            print(f"note: {line}")
        print(f"identical: rerun {again.info.run_id} reproduces run {run_id} bit for bit")
        return ExitCode.OK
    print(f"different: rerun {again.info.run_id} of run {run_id}: first difference: {difference}")
    sizes = shape(cfg.data)
    for line in explanation(client, original, again, {"val": sizes.val, "test": sizes.test}):
        print(f"  {line}")
    return ExitCode.FAILED


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_id")
    parser.add_argument(
        "--tracking-uri", default=None, help="default: $MLFLOW_TRACKING_URI or outputs/mlflow.db"
    )
    store_options(parser, project_config(), experiment=False)
    args = parser.parse_args(argv)
    uri = resolve_uri(args.tracking_uri, args.outputs_dir)
    try:
        client, _ = open_run(uri, args.run_id)
        numerics.require(logged_config(client, args.run_id, uri).train.portable)
        sys.exit(rerun(args.run_id, uri, args.outputs_dir))
    except ConfigError as error:
        fail(error, ExitCode.BAD_INPUT)
    except (TrackingError, MnistUnavailableError) as error:
        fail(error, ExitCode.FAILED)


if __name__ == "__main__":
    main()
