"""What a registered version of the network says about itself: its description and tags.

Plain text from plain values (the source run's params, metrics and tags), so that the
registry's page of a version answers where it came from and how good it is, on which data.
"""

from __future__ import annotations

from pipeline.stages.selection import REPORTED, SELECT_BY

DATA_TAG = "data_sha256"  # a run's tag: the sha256 of the data it trained and tested on
COPIED_TAGS = (DATA_TAG, "weights_sha256")  # run tags a logged model and a version repeat
DESCRIBED = (
    "data.name", "data.val_size", "data.dtype", "model.hidden_size", "model.activation",
    "train.optimizer", "train.lr", "train.batch_size", "train.iters", "train.epochs", "seed",
)  # the run params a version's description names  # fmt: skip


def describe(run_id: str, model_id: str, params: dict[str, str], metrics: dict[str, float],
             data_sha256: str | None) -> str:  # fmt: skip
    """A version's description (markdown).

    Parameters
    ----------
    run_id, model_id : str
        The run that trained the network and the logged model it became.
    params : dict
        The run's params (flattened config keys); those of ``DESCRIBED`` are named.
    metrics : dict
        The run's metrics: ``SELECT_BY``, which chose it, and ``REPORTED``, its estimate on
        new data, are named.
    data_sha256 : str or None
        The digest of the data it was trained, validated and tested on.
    """
    rows = "\n".join(f"| `{key}` | {params[key]} |" for key in DESCRIBED if key in params)
    chosen, reported = (_shown(metrics.get(key)) for key in (SELECT_BY, REPORTED))
    return (
        f"Source run `{run_id}`, logged model `{model_id}`.\n\n"
        f"| param | value |\n|---|---|\n{rows}\n\n"
        f"Validation accuracy {chosen} (what chose it); test accuracy {reported} (its "
        f"estimate on new data, never used to choose); on the data of sha256 "
        f"`{data_sha256 or 'unknown'}`."
    )


def _shown(accuracy: float | None) -> str:
    return "unknown" if accuracy is None else f"**{accuracy:.4f}**"


def version_tags(
    run_id: str, model_id: str, metrics: dict[str, float], tags: dict[str, str]
) -> dict[str, str]:
    """A version's tags: its run and logged model, the run's final metrics (``final_*``) and
    its ``COPIED_TAGS``."""
    finals = {key: str(value) for key, value in metrics.items() if key.startswith("final_")}
    copied = {key: tags[key] for key in COPIED_TAGS if key in tags}
    return {"run_id": run_id, "model_id": model_id, **finals, **copied}
