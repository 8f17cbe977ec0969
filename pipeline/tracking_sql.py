"""Metric points into an MLflow SQL store in one bulk INSERT (used by the writer process).

``MlflowClient.log_batch`` builds a SQLAlchemy ORM object per metric point: ~0.27 ms of CPU
each here, 1.6 s for a 6,000-point loss curve. A sweep that keeps every core busy pays that
CPU in full. For a store that is a SQL database (``sqlite:``, ``postgresql:``, ...),
``SqlMetricWriter`` stores the same rows with MLflow's own pieces instead: its table
definition (``SqlMetric``), its NaN/inf rule (``sanitize_metric_value``), its latest-value
update (``_update_latest_metrics_if_necessary``) and its session, in one transaction per
batch: about 20x less CPU. Reading the run back through MLflow gives exactly what
``log_batch`` stores (``tests/test_tracking_sql.py`` compares the two on the MLflow version
pinned in ``pyproject.toml``); ``for_client`` returns None for any other store, or if this
MLflow lacks those pieces, and the writer then uses ``log_batch``.
"""

from __future__ import annotations

from typing import Any


class SqlMetricWriter:
    """Bulk metric inserts into the SQL store behind an ``MlflowClient``."""

    def __init__(self, store: Any) -> None:
        from mlflow.store.tracking.dbmodels.models import SqlMetric
        from sqlalchemy import insert

        self.store = store
        self._model = SqlMetric
        self._insert = insert(SqlMetric.__table__)

    @classmethod
    def for_client(cls, client: Any) -> SqlMetricWriter | None:
        """A writer for ``client``'s store if it is a SQL database, else None."""
        try:
            from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

            store = client._tracking_client.store
            needed = ("ManagedSessionMaker", "sanitize_metric_value", "_get_run")
            needed += ("_check_run_is_active", "_update_latest_metrics_if_necessary")
            if not isinstance(store, SqlAlchemyStore) or not all(
                hasattr(store, name) for name in needed
            ):
                return None
            return cls(store)
        except (ImportError, AttributeError):
            return None

    def log(self, run_id: str, points: list[tuple[str, float, int, int]]) -> None:
        """Store ``points`` (key, value, timestamp ms, step) for the active run ``run_id``,
        as ``log_batch`` would (a point given twice is stored once)."""
        rows = [self._row(run_id, *point) for point in dict.fromkeys(points)]
        if not rows:
            return
        latest: dict[str, dict[str, Any]] = {}  # the newest point of each key in this batch
        for row in rows:
            best = latest.get(row["key"])
            if best is None or _order(row) > _order(best):
                latest[row["key"]] = row
        with self.store.ManagedSessionMaker(read_only=False) as session:
            self.store._check_run_is_active(self.store._get_run(run_uuid=run_id, session=session))
            session.execute(self._insert, rows)
            newest = [self._model(**row) for row in latest.values()]
            self.store._update_latest_metrics_if_necessary(newest, session)

    def _row(self, run_id: str, key: str, value: float, timestamp: int, step: int) -> dict:
        is_nan, value = self.store.sanitize_metric_value(value)
        return {
            "run_uuid": run_id, "key": key, "value": value,
            "timestamp": timestamp, "step": step, "is_nan": is_nan,
        }  # fmt: skip


def _order(row: dict[str, Any]) -> tuple:
    """MLflow's "more recent" order of two points of one key: step, timestamp, value."""
    return row["step"], row["timestamp"], row["value"]
