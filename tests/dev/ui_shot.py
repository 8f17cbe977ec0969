"""``python -m tests.dev.ui_shot [--out docs/images/mlflow-ui.png]``: a picture of the UI.

Starts ``mlflow ui`` on the project's store at a free port of 127.0.0.1, opens the link
``make ui`` prints (``--page runs``: the runs table as the view "mnist jobs by
validation accuracy"; ``--page sweep``: the newest sweep's parent run) in headless Chromium,
waits until the page
has rendered, saves a PNG and stops the server and the browser (each its whole process group).
The browser is driven over its DevTools pipe, so that MLflow's assistant panel, which opens
by itself on a browser's first visit, can be told it was seen (as after a reader closed it).
Debian's ``chromium`` (``make chromium``) is the browser.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from pipeline import loopback
from pipeline.config import dataset_config, project_config
from pipeline.errors import ExitCode, fail
from pipeline.tools import store_options
from pipeline.tools.ui import mlflow_command, run_url, runs_link, store_of
from pipeline.tracking.runs_view import newest_sweep
from pipeline.tracking.store import experiment_id, set_mlflow_environment
from tests.dev.chromium import Browser, find_chromium
from tests.services import answers, free_port, stop_group

OUT = Path("docs/images/mlflow-ui.png")
# localStorage keys of MLflow's UI: its assistant panel opens by itself once per browser.
SEEN = {"mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": "true"}
# Text each page shows once its data is in (the table's footer, the run page's details).
RENDERED = {"runs": "matching runs", "sweep": "Run ID"}
SETTLE = 2.0  # seconds for the table's columns to take their widths after the data is in


def last_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = project_config()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"the PNG; default: {OUT}")
    parser.add_argument("--page", choices=sorted(RENDERED), default="runs")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds for each wait")
    store_options(parser, defaults, data=True)
    return parser.parse_args(argv)


def page_url(args: argparse.Namespace, uri: str, found: str, port: int) -> str:
    """The link ``make ui`` prints for ``args.page``."""
    if args.page == "sweep":
        sweep = newest_sweep(uri, found, dataset_config(args.data))
        if sweep is None:
            fail(f"no sweep in experiment {args.experiment!r} of {uri}", ExitCode.BAD_INPUT)
        return run_url(loopback.HOST, port, found, sweep)
    return runs_link(loopback.HOST, port, uri, found, dataset_config(args.data))[0]


def shoot(args: argparse.Namespace, program: str, uri: str, url: str, port: int,
          work: Path) -> bytes:  # fmt: skip
    """The PNG of ``url``, served by ``mlflow ui`` on store ``uri`` at ``port`` meanwhile."""
    log = work / "mlflow-ui.log"
    server_args = SimpleNamespace(host=loopback.HOST, port=port, workers=1)
    command = mlflow_command(server_args, uri)
    with open(log, "w") as out:
        server = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    browser = None
    try:
        deadline = time.monotonic() + args.timeout
        while not answers(f"http://{loopback.HOST}:{port}/health"):
            if server.poll() is not None or time.monotonic() > deadline:
                fail(f"mlflow ui did not start: {last_line(log)}", ExitCode.FAILED)
            time.sleep(0.5)
        browser = Browser(program, str(work / "profile"), args.width, args.height)
        browser.open_page()
        browser.go(f"http://{loopback.HOST}:{port}/health", "OK", args.timeout)
        for key, value in SEEN.items():
            browser.evaluate(f"localStorage.setItem({json.dumps(key)}, {json.dumps(value)})")
        browser.go(url, RENDERED[args.page], args.timeout)
        time.sleep(SETTLE)
        return browser.screenshot()
    except (RuntimeError, OSError) as exc:
        fail(f"screenshot of {url}: {exc}", ExitCode.FAILED)
    finally:
        if browser is not None:
            browser.close()
        stop_group(server)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.out.suffix.lower() != ".png":
        fail(f"--out {args.out}: a .png file", ExitCode.BAD_INPUT)
    uri = store_of(args)
    program = find_chromium()
    if program is None:
        fail("no headless Chromium: `make chromium` installs Debian's chromium", ExitCode.BAD_INPUT)
    found = experiment_id(uri, args.experiment)
    if found is None:
        fail(f"no experiment {args.experiment!r} in {uri}: run `make sweep`", ExitCode.BAD_INPUT)
    set_mlflow_environment(server=True)
    port = free_port()
    url = page_url(args, uri, found, port)
    with tempfile.TemporaryDirectory(prefix="ui-shot-") as work:
        picture = shoot(args, program, uri, url, port, Path(work))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(picture)
    print(f"{args.out}: {url}")


if __name__ == "__main__":
    main()
