"""The MLflow UI as a reviewer sees it: the links `make ui` prints, rendered by headless Chromium.

The links and the saved view they open are checked first on their own (fast). Then (slow) a
small real sweep on synthetic data into a new outputs dir, ``python -m pipeline.tools.ui``
on it, and the page Chromium renders for each link it prints: the runs table (the saved view
"Jobs by validation accuracy": best validation accuracy first, the test accuracy and the swept
params as columns) and the newest sweep's parent run (its description names the chosen job and
its test accuracy). Debian's
``chromium`` is the browser; the test installs it where it can (root, apt-get) and is skipped
where it cannot.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from html.parser import HTMLParser

import pytest
from mlflow.tracking import MlflowClient

from pipeline.config import dataset_config
from pipeline.tools.ui import run_url, runs_url, sorted_runs_url
from pipeline.tracking.runs_view import COLUMNS, SORT_KEY, column, envelope, view_state
from tests.conftest import ROOT, run_pipeline
from tests.dev.chromium import chromium_flags, find_chromium
from tests.services import answers, free_port, start_logged, stop_group, wait_until

# 2 x 2 jobs on synthetic data, seconds each; 150 iterations: four different test accuracies
SWEEP = ("--multirun", "sweep=small", "train.iters=150")
# then a sweep on 100 of those rows: neither its jobs nor it are what the links show
SUBSET_SWEEP = (
    "--multirun",
    "sweep=small",
    "train.iters=20",
    "data.n_train=100",
    "model.hidden_size=16",
)
INSTALL = "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium"
PARAMS = ("train.lr", "train.batch_size", "model.hidden_size")
NAME = column("attributes", "Run Name")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}  # fmt: skip


def test_every_link_opens_the_classic_layout_and_the_runs_link_the_view():
    base = "http://127.0.0.1:5000/#/experiments/7/runs"
    assert runs_url("127.0.0.1", 5000, None) == "http://127.0.0.1:5000/"
    assert runs_url("127.0.0.1", 5000, "7", "v") == (
        f"{base}?workflowType=machine_learning&viewStateShareKey=v"
    )
    assert sorted_runs_url("127.0.0.1", 5000, "7") == (
        f"{base}?workflowType=machine_learning&orderByKey=metrics.%60final_val_acc%60"
        "&orderByAsc=false"
    )
    assert run_url("127.0.0.1", 5000, "7", "abc") == f"{base}/abc?workflowType=machine_learning"


def test_the_view_is_written_once_and_keeps_its_creation_time():
    mnist = dataset_config("mnist")
    first = json.loads(envelope(mnist, None, 1000))
    assert first["name"] == "mnist jobs by validation accuracy"
    assert first["createdAt"] == first["updatedAt"] == 1000
    state = json.loads(first["state"])  # the UI reads the state as a JSON string
    assert state == view_state(mnist) and state["orderByKey"] == SORT_KEY
    assert state["orderByAsc"] is False and state["selectedColumns"] == list(COLUMNS)
    assert envelope(mnist, json.dumps(first), 2000) is None  # there already: not written again
    changed = json.loads(envelope(mnist, json.dumps({**first, "state": "{}"}), 3000))
    assert (changed["createdAt"], changed["updatedAt"]) == (1000, 3000)
    assert json.loads(envelope(mnist, "not json", 4000))["createdAt"] == 4000


def test_the_view_shows_only_runs_on_the_datasets_default_rows():
    assert view_state(dataset_config("mnist"))["searchFilter"] == (
        "params.`data.name` = 'mnist' and params.`data.n_train` = 'None' and "
        "params.`data.n_test` = 'None'"
    )
    assert view_state(dataset_config("synthetic"))["searchFilter"] == (
        "params.`data.name` = 'synthetic' and params.`data.n_train` = '1000' and "
        "params.`data.n_test` = '200'"
    )
    assert {column("params", "data.name"), column("params", "data.n_train")} <= set(COLUMNS)


@pytest.fixture(scope="module")
def chromium() -> str:
    """The headless browser; installed with apt-get when missing and run as root."""
    found = find_chromium()
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(INSTALL, shell=True, capture_output=True, timeout=900)
        found = find_chromium()
    if found is None:
        pytest.skip(
            "no headless Chromium, and it cannot be installed here (needs root and apt-get): "
            "`make chromium` or `sudo apt-get install chromium`"
        )
    return found


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, empty_store):
    """A finished sweep, then a newer one on a subset: (outputs dir, store URI, the first
    sweep's parent run, its jobs' runs)."""
    outputs = tmp_path_factory.mktemp("ui-outputs")
    shutil.copyfile(empty_store, outputs / "mlflow.db")
    done = run_pipeline(*SWEEP, f"outputs_dir={outputs}")
    assert done.returncode == 0, done.stderr[-3000:]
    later = run_pipeline(*SUBSET_SWEEP, f"outputs_dir={outputs}")  # newer, never shown
    assert later.returncode == 0, later.stderr[-3000:]
    uri = f"sqlite:///{outputs}/mlflow.db"
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("scratchnn").experiment_id
    default_rows = "params.`data.n_train` = '1000'"
    (parent,) = client.search_runs(
        [experiment], f"tags.`scratchnn.role` = 'sweep' and {default_rows}"
    )
    jobs = client.search_runs([experiment], f"tags.`scratchnn.role` = 'job' and {default_rows}")
    assert len(jobs) == 4
    return outputs, uri, parent, jobs


@pytest.fixture(scope="module")
def links(sweep, tmp_path_factory):
    """The links ``python -m pipeline.tools.ui`` prints, while its UI answers them."""
    outputs = sweep[0]
    port, log = free_port(), tmp_path_factory.mktemp("ui-log") / "ui.log"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    command = [sys.executable, "-m", "pipeline.tools.ui", "--port", str(port), "--workers", "1",
               "--outputs-dir", str(outputs), "--data", "synthetic"]  # fmt: skip
    process = start_logged(command, log, cwd=ROOT, env=env)
    try:
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/health"), process, log, 120, "UI")
        text = log.read_text()
        yield {
            "runs": re.search(r"^  open (http://\S+)$", text, re.M)[1],
            "sweep": re.search(r"^  newest sweep: (http://\S+)$", text, re.M)[1],
        }
    finally:
        stop_group(process)


def rendered(chromium: str, url: str) -> str:
    """The DOM Chromium renders for ``url``, once the page's requests are answered."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        command = [chromium, *chromium_flags(profile, 1920, 1080),
                   "--virtual-time-budget=30000", "--dump-dom", url]  # fmt: skip
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            start_new_session=True,
        )  # fmt: skip
        try:
            dom, _ = process.communicate(timeout=180)
        finally:
            stop_group(process)
    return dom


def text_of(dom: str) -> str:
    """What a page says: its DOM without scripts, styles and tags, whitespace collapsed."""
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", dom)).split())


class Grid(HTMLParser):
    """The runs table of a rendered page: ``rows[i][column id]``, the text of the cell of
    column ``column id`` in the ``i``-th row from the top (ag-grid's ``row-index``)."""

    def __init__(self, dom: str):
        super().__init__()
        self.rows: dict[int, dict[str, str]] = {}
        self.depth, self.row, self.cell = 0, None, None
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        if tag in VOID:
            return
        self.depth += 1
        found = dict(attrs)
        if found.get("role") == "row" and "row-index" in found:
            self.row = (int(found["row-index"]), self.depth)
        elif self.row and found.get("role") == "gridcell" and "col-id" in found:
            self.cell = (found["col-id"], self.depth, [])

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if self.cell and self.cell[1] == self.depth:
            text = " ".join("".join(self.cell[2]).split())
            self.rows.setdefault(self.row[0], {})[self.cell[0]] = text
            self.cell = None
        if self.row and self.row[1] == self.depth:
            self.row = None
        self.depth -= 1

    def handle_data(self, data):
        if self.cell:
            self.cell[2].append(data)


def as_shown(value: float) -> str:
    """A metric as the runs table shows it: JavaScript's shortest form (0.935, 1)."""
    return repr(value).removesuffix(".0")


@pytest.mark.slow
def test_the_runs_link_shows_every_job_best_first_with_its_params(chromium, sweep, links):
    _, _, parent, jobs = sweep
    url = links["runs"]
    assert "workflowType=machine_learning" in url and "viewStateShareKey=" in url
    dom = rendered(chromium, url)
    text = text_of(dom)
    assert "Observability" not in text, "the GenAI layout, not the runs table"
    assert "synthetic jobs by validation accuracy" in text, f"no saved view: {text[:2000]}"
    rows = Grid(dom).rows
    assert len(rows) == len(jobs) + 1, rows  # each job a row of its own, and the parent
    assert all(set(COLUMNS) <= set(row) for row in rows.values()), "a column is missing"
    shown = [row[SORT_KEY] for _, row in sorted(rows.items())]
    accuracies = sorted((job.data.metrics["final_val_acc"] for job in jobs), reverse=True)
    assert shown == [*map(as_shown, accuracies), "-"], shown  # best first, the parent last
    best = accuracies[0]
    names = {job.info.run_name: job for job in jobs}
    first = next(job for name, job in names.items() if name in rows[0][NAME])
    assert first.data.metrics["final_val_acc"] == best
    assert rows[0][column("metrics", "final_test_acc")] == as_shown(
        first.data.metrics["final_test_acc"])  # fmt: skip
    assert [rows[0][column("params", key)] for key in PARAMS] == [
        first.data.params[key] for key in PARAMS
    ]
    assert parent.info.run_name in rows[len(jobs)][NAME]  # no validation accuracy: last


@pytest.mark.slow
def test_the_sweep_link_shows_the_parents_description_with_the_best_accuracy(
    chromium, sweep, links
):
    _, _, parent, jobs = sweep
    url = links["sweep"]
    assert f"/runs/{parent.info.run_id}?workflowType=machine_learning" in url
    text = text_of(rendered(chromium, url))
    assert "Observability" not in text, "the GenAI layout, not the run page"
    best = max(jobs, key=lambda job: job.data.metrics["final_val_acc"])
    assert "Best job" in text, f"the parent's description is not on its page: {text[:2000]}"
    assert "Chosen by validation accuracy" in text
    assert f"test accuracy {best.data.metrics['final_test_acc']:.4f}" in text


@pytest.mark.slow
def test_make_ui_shot_takes_the_views_picture_with_the_assistant_shut(chromium, sweep, tmp_path):
    """`make ui-shot`'s tool on the sweep's store: a PNG of the size asked, of the link the
    view opens; it refuses to save one with MLflow's assistant panel open."""
    pytest.importorskip("playwright", reason="make ui-shot's browser driver: the shot extra")
    out = tmp_path / "ui.png"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    done = subprocess.run(
        [sys.executable, "-m", "tests.dev.ui_shot", "--outputs-dir", str(sweep[0]),
         "--data", "synthetic", "--out", str(out), "--width", "800", "--height", "600"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "viewStateShareKey=scratchnn-jobs-synthetic" in done.stdout
    png = out.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (800, 600)
