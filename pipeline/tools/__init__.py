"""The command-line tools beside ``python -m pipeline``, each ``python -m pipeline.tools.<name>``:

data    fetch and verify the full MNIST into the cache (``make data``)
rerun   run a tracked run again and compare it point by point (``make rerun RUN=<id>``)
ui      the MLflow UI on the project's store, on 127.0.0.1 (``make ui``)
server  an MLflow tracking server for runs and sweeps, on 127.0.0.1 (``make server``)
serve   a run's model over HTTP, on 127.0.0.1 (``make serve``)
sync    send a tracking server the runs and sweep ends an outage left in the spool (``make sync``)
May import anything below them; MLflow's client only through ``pipeline.tracking``.
Errors: one line and an exit code of ``pipeline.errors.ExitCode``. Their shared options:
``store_options``.
"""

from __future__ import annotations

import argparse
from typing import Any

from pipeline.stages.data.sizes import DATASETS


def store_options(
    parser: argparse.ArgumentParser, defaults: Any, experiment: bool = True, data: bool = False
) -> None:
    """The options of the tools that open the project's store, with the project's defaults
    (``defaults``: ``config.project_config()``): ``--outputs-dir`` (where its local store
    is), ``--experiment`` (whose runs), ``--data`` (the dataset whose runs its links show)."""
    parser.add_argument("--outputs-dir", default=defaults.outputs_dir)
    if experiment:
        parser.add_argument("--experiment", default=defaults.tracking.experiment)
    if data:
        parser.add_argument("--data", default=defaults.data.name, choices=sorted(DATASETS),
                            help="the dataset of the runs it shows or serves")  # fmt: skip
