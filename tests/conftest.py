"""Shared fixtures: configs composed with Hydra's compose API, stores under ``tmp_path``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from pipeline.config import CONF_DIR, register_schema
from pipeline.sweeps.launchers import register_worker_env

ROOT = Path(__file__).resolve().parent.parent

register_schema()
register_worker_env()


def compose_config(outputs_dir: Path, *overrides: str, data: str = "synthetic", hydra=False):
    """The composed config: synthetic data unless told, store and outputs in ``outputs_dir``."""
    base = [f"data={data}", f"outputs_dir={outputs_dir}", "progress=none"]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("config", overrides=[*base, *overrides], return_hydra_config=hydra)


def work_tree_entries() -> set[str]:
    """The work tree's untracked and ignored files, each (also inside an ignored folder such as
    ``outputs/``), but the virtualenv's and Python's and pytest's caches."""
    listed = subprocess.run(
        ["git", "status", "--porcelain", "--ignored=traditional", "--untracked-files=all",
         "--", ".", ":(exclude).venv"],
        cwd=ROOT, capture_output=True, text=True,
    ).stdout.splitlines()  # fmt: skip
    entries = {line[3:] for line in listed if line[:2] in ("??", "!!")}
    return {e for e in entries if "__pycache__" not in e and not e.startswith(".pytest_cache")}


@pytest.fixture(scope="session", autouse=True)
def work_tree_untouched():
    """The suite leaves the work tree as it found it: nothing new, untracked or ignored (an
    MLflow experiment created without an artifact location writes ``mlruns/`` into the
    current directory, the project's root)."""
    before = work_tree_entries()
    yield
    left = sorted(work_tree_entries() - before)
    assert not left, f"the tests left {left} in the work tree"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """test_outage.py first, tests marked ``runs_last`` last: its long outage (a) waits out
    three minutes in a thread while the rest of the suite runs (with ``-n 2 --dist
    loadfile``, as ``make test`` runs it: the rest of its worker's share of the files)."""

    def order(item: pytest.Item) -> int:
        if item.get_closest_marker("runs_last"):
            return 2
        return 0 if item.path.name == "test_outage.py" else 1

    items.sort(key=order)


@pytest.fixture
def make_cfg(tmp_path):
    """``make_cfg(*overrides, data=..., hydra=...)``: ``compose_config`` into ``tmp_path``."""

    def make(*overrides: str, data: str = "synthetic", hydra: bool = False):
        return compose_config(tmp_path, *overrides, data=data, hydra=hydra)

    return make


@pytest.fixture
def store_uri(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/mlflow.db"


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory) -> Path:
    """An MLflow SQLite store with its schema made and no experiment: creating the schema
    takes seconds, so tests that do not test a brand-new store start from a copy."""
    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    from mlflow.tracking import MlflowClient

    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def outputs(tmp_path, empty_store) -> Path:
    """``tmp_path`` holding a copy of ``empty_store`` as ``mlflow.db``: the outputs dir."""
    shutil.copyfile(empty_store, tmp_path / "mlflow.db")
    return tmp_path


def run_pipeline(*args: str, cwd: Path = ROOT, timeout: float = 600, env=None):
    """``python -m pipeline *args`` in a subprocess; returns the CompletedProcess."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )
