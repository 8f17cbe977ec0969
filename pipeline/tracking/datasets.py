"""A run's datasets: the training, validation and test rows it used, as MLflow dataset inputs.

Each split becomes one input of the run (the runs table's Datasets column), named
``<data.name>-<split>`` with its context (``CONTEXTS``) and the sha256 of its own rows as
digest, so MLflow's Datasets panel tells the splits apart and two runs judged on the same
validation rows show the same validation digest: ``LogDataset`` messages (``messages`` says
how messages travel), read back by ``datasets``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.stages.data import Dataset, generator_seed
from pipeline.stages.data.mnist import resolve_data_dir
from pipeline.tracking.session import Session

# a split (the prefix of its metrics: final_val_acc) -> the MLflow context of its dataset
CONTEXTS = {"train": "training", "val": "validation", "test": "test"}
DIGEST_CHARS = 36  # of a split's sha256 in its dataset's digest: MLflow's column holds 36


@dataclass
class LogDataset:
    """A dataset the run used, as one of its inputs (``MlflowClient.log_inputs``): its name,
    digest, ``context`` (training, validation, test), source and the shapes and dtypes of
    its arrays."""

    name: str
    digest: str
    context: str
    source_type: str
    source: dict[str, Any]
    features_shape: list[int]
    features_dtype: str
    targets_shape: list[int]
    targets_dtype: str

    def apply(self, session: Session) -> None:
        from mlflow.entities import Dataset, DatasetInput, InputTag
        from mlflow.types import Schema, TensorSpec
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        def spec(shape: list[int], dtype: str) -> str:
            return Schema([TensorSpec(np.dtype(dtype), (-1, *shape[1:]))]).to_json()

        schema = {
            "features": spec(self.features_shape, self.features_dtype),
            "targets": spec(self.targets_shape, self.targets_dtype),
        }
        profile = {"features_shape": self.features_shape, "targets_shape": self.targets_shape}
        dataset = Dataset(
            self.name, self.digest, self.source_type, json.dumps(self.source),
            json.dumps({"mlflow_tensorspec": schema}), json.dumps(profile),
        )  # fmt: skip
        inputs = [DatasetInput(dataset, [InputTag(MLFLOW_DATASET_CONTEXT, self.context)])]
        try:
            session.client.log_inputs(session.run.run_id, inputs)
        except Exception:  # noqa: BLE001 - parallel jobs adding the same dataset race on the
            # store's unique (experiment, name, digest); the loser finds it there when it retries
            session.client.log_inputs(session.run.run_id, inputs)


def dataset_messages(cfg: Any, data: Dataset) -> list[LogDataset]:
    """A ``LogDataset`` per split of ``data`` that has rows, for the run of the job ``cfg``:
    MNIST's source is its local cache, the synthetic set's the generator and seed."""
    name = cfg.data.name
    if name == "mnist":
        source = ("local", {"uri": str(resolve_data_dir(cfg.data.data_dir))})
    else:
        seed = generator_seed(cfg.data, cfg.seed)
        generator = {"generator": f"pipeline.stages.data.{name}", "seed": str(seed)}
        source = ("code", {"tags": generator})
    return [
        LogDataset(
            f"{name}-{split}", data.digests[split][:DIGEST_CHARS], CONTEXTS[split], *source,
            list(x.shape), str(x.dtype), list(t.shape), str(t.dtype),
        )
        for split, x, t in data.splits()
    ]  # fmt: skip


def datasets(run: Any) -> dict[str, tuple[str, str]]:
    """The datasets of ``run`` (an MLflow ``Run``: its inputs) by context, e.g. ``validation``:
    (name, digest)."""
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    found = {}
    for item in run.inputs.dataset_inputs if run.inputs else []:
        context = {tag.key: tag.value for tag in item.tags}.get(MLFLOW_DATASET_CONTEXT)
        found[context] = (item.dataset.name, item.dataset.digest)
    return found
