"""``python -m tests.dev.ui_shot [--out docs/images/mlflow-ui.png]``: a picture of the UI.

Starts ``mlflow ui`` on the project's store at a free port of 127.0.0.1, opens the link
``make ui`` prints (``--page runs``: the runs table as the view "mnist jobs by
validation accuracy"; ``--page sweep``: the newest sweep's parent run) in headless Chromium,
waits until the page has rendered, saves a PNG, and closes the browser and stops the server
(its whole process group).
Playwright (the ``shot`` extra) drives Debian's ``chromium`` (``make chromium``), so that
MLflow's assistant panel, which opens by itself on a browser's first visit, can be told it was
seen (as after a reader closed it) before the page loads; a picture with the panel open is
refused.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

try:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright
except ImportError:  # main() says how to install it
    sync_playwright = None

from pipeline import loopback
from pipeline.config import dataset_config, project_config
from pipeline.errors import ExitCode, fail
from pipeline.tools import store_options
from pipeline.tools.ui import mlflow_command, run_url, runs_link, store_of
from pipeline.tracking.runs_view import newest_sweep
from pipeline.tracking.store import experiment_id, set_mlflow_environment
from tests.dev.chromium import HEADLESS, find_chromium
from tests.services import answers, free_port, stop_group

OUT = Path("docs/images/mlflow-ui.png")
# localStorage keys of MLflow's UI: its assistant panel opens by itself once per browser.
SEEN = {"mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": "true"}
PANEL = "Ask questions about your experiments"  # the open panel's greeting
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
    with open(log, "w") as out:
        server = subprocess.Popen(
            mlflow_command(server_args, uri), stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + args.timeout
        while not answers(f"http://{loopback.HOST}:{port}/health"):
            if server.poll() is not None or time.monotonic() > deadline:
                fail(f"mlflow ui did not start: {last_line(log)}", ExitCode.FAILED)
            time.sleep(0.5)
        return rendered(args, program, url)
    except PlaywrightError as exc:
        fail(f"screenshot of {url}: {str(exc).splitlines()[0]}", ExitCode.FAILED)
    finally:
        stop_group(server)


def rendered(args: argparse.Namespace, program: str, url: str) -> bytes:
    """The PNG of ``url`` once it shows its data, in a browser that has seen the panel."""
    seen = f"for (const [k, v] of Object.entries({json.dumps(SEEN)})) localStorage.setItem(k, v)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=program, args=list(HEADLESS))
        try:
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            page.add_init_script(seen)  # before the UI's own scripts, on every page
            page.goto(url)
            wait_ms = args.timeout * 1000
            page.get_by_text(RENDERED[args.page]).first.wait_for(timeout=wait_ms)
            page.wait_for_timeout(SETTLE * 1000)
            if page.get_by_text(PANEL).count():
                fail(f"MLflow's assistant is open: {SEEN} no longer shuts it", ExitCode.FAILED)
            return page.screenshot()
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.out.suffix.lower() != ".png":
        fail(f"--out {args.out}: a .png file", ExitCode.BAD_INPUT)
    uri = store_of(args)
    if sync_playwright is None:
        fail("no Playwright: `make ui-shot` installs it (the shot extra)", ExitCode.BAD_INPUT)
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
