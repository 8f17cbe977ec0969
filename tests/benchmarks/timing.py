"""What the benchmarks that time whole commands share: a store made before timing, and the
wall time of one ``python -m pipeline`` in a fresh process (of this code or another copy's)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def template_store(folder: Path) -> Path:
    """An MLflow SQLite store with its schema made (creating one takes seconds)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "template.db"
    code = "import sys; from mlflow.tracking import MlflowClient; "
    code += "MlflowClient(f'sqlite:///{sys.argv[1]}').search_experiments()"
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True)
    return path


def timed_pipeline(
    args: list[str], outputs: Path, store: Path | None, code: Path = ROOT, env: dict | None = None
) -> float:
    """Seconds of ``python -m pipeline *args outputs_dir=<outputs>`` run in ``code`` (a copy
    of the project: its ``pipeline`` package is the one imported), on a copy of ``store``."""
    outputs.mkdir(parents=True)
    if store is not None:
        shutil.copyfile(store, outputs / "mlflow.db")
    full_env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", *args, f"outputs_dir={outputs}"],
        cwd=code, env={**full_env, **(env or {})}, capture_output=True, text=True,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} in {code} failed:\n{done.stderr[-3000:]}")
    return seconds
