"""Where a SQLite store keeps its runs' files: beside its database file, wherever it moves.

A new experiment of a SQLite store keeps its artifacts in ``ARTIFACTS_DIR`` beside the
store's file (``artifact_location``), so the folder holds everything ``make rerun`` and
``make serve`` need. MLflow records absolute paths, so a moved folder is read where it is now
(``relocated``).
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from pipeline.tracking.store import scheme, sqlite_path

ARTIFACTS_DIR = "mlartifacts"  # beside a SQLite store's file: its experiments' artifacts


def artifact_location(uri: str) -> str | None:
    """Where a new experiment keeps artifacts: the folder ``ARTIFACTS_DIR`` beside a SQLite
    store's file (moving the store's folder moves everything a rerun needs), else the
    store's own choice (None). An experiment keeps the location it was created with."""
    if scheme(uri) == "sqlite":
        return (sqlite_path(uri).resolve().parent / ARTIFACTS_DIR).as_uri()
    return None


def relocated(uri: str, artifact_uri: str) -> str:
    """``artifact_uri`` (a run's or a logged model's, as the store ``uri`` recorded it) where
    it is now. MLflow records absolute paths (mlflow/mlflow#3144): when the folder of a SQLite
    store has been moved, a location under its ``ARTIFACTS_DIR`` that is gone is read from the
    ``ARTIFACTS_DIR`` beside the store's file. Anything else is returned as it is."""
    if scheme(uri) != "sqlite" or not artifact_uri.startswith("file:"):
        return artifact_uri
    recorded = Path(urllib.parse.urlsplit(artifact_uri).path)
    if recorded.exists() or ARTIFACTS_DIR not in recorded.parts:
        return artifact_uri
    last = len(recorded.parts) - 1 - recorded.parts[::-1].index(ARTIFACTS_DIR)
    here = sqlite_path(uri).resolve().parent.joinpath(*recorded.parts[last:])
    return here.as_uri() if here.exists() else artifact_uri
