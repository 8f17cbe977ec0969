"""``python -m pipeline.tools.sync``: send the tracking server what its outages left in the spool.

A job logging to a tracking server spools every message under ``<outputs>/spool/``
(``pipeline.tracking.spool``). This sends every run left there (a run whose job died before
ending it ends KILLED), in order and exactly once, then ends the sweeps that were waiting for
them (``pipeline.sweeps.ending``): summary, front page, best model registered. Running it again
changes nothing. It waits up to ``--wait`` seconds (``tracking.outage_wait``) for a server that
does not answer, then exits 75 with the runs still spooled.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.config import project_config
from pipeline.errors import ExitCode, fail, report
from pipeline.sweeps.ending import Owed, send_owed
from pipeline.tools import store_options
from pipeline.tracking.spool import spool_dir
from pipeline.tracking.store import TrackingError, set_mlflow_environment


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = project_config()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    store_options(parser, defaults, experiment=False)
    parser.add_argument(
        "--wait", type=float, default=defaults.tracking.outage_wait,
        help="seconds to wait for a server that does not answer (tracking.outage_wait)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if not args.wait >= 0:
        parser.error(f"--wait={args.wait!r} is not allowed; allowed: seconds >= 0")
    return args


def summary(owed: Owed, spool: Path) -> list[str]:
    """One line for everything sent (``drain`` says each run as it sends it)."""
    drained = owed.drained
    points = sum(s.points for s in drained.sent)
    if not drained.sent and not owed.ended and not drained.left:
        return [f"nothing to send: {spool} holds no runs"]
    lines = [
        f"sent {len(drained.sent)} spooled runs ({points} metric points) and ended "
        f"{len(owed.ended)} sweeps; {drained.left or 'nothing'} left in {spool}"
    ]
    if drained.busy:
        lines.append(f"{len(drained.busy)} runs are still being written by their jobs: left")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    set_mlflow_environment()
    spool = spool_dir(args.outputs_dir)
    try:
        owed = send_owed(spool, None, args.wait)
    except TrackingError as error:
        return int(report(error, ExitCode.FAILED))
    print("\n".join(summary(owed, spool)))
    for refusal in owed.drained.refused.values():
        fail(f"{refusal}; its runs stay in {spool}", ExitCode.FAILED)
    if owed.drained.down:
        servers = ", ".join(owed.drained.down)
        fail(f"tracking server {servers} did not answer for {args.wait:g} s: its runs stay in "
             f"{spool}; run make sync again once it is back", ExitCode.SPOOLED)  # fmt: skip
    damaged = [s for s in owed.drained.sent if s.error]
    return int(ExitCode.FAILED if damaged else ExitCode.OK)


if __name__ == "__main__":
    sys.exit(main())
