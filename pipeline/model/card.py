"""What a registered version of the network says about itself: its description and tags.

Plain text from plain values (the source run's params, metrics and tags), so that the
registry's page of a version answers where it came from and how good it is, on which data.
"""

from __future__ import annotations

SCORE = "final_test_acc"  # what "better" means: the test accuracy at the end of training
DATA_TAG = "data_sha256"  # a run's tag: the sha256 of the data it trained and tested on
COPIED_TAGS = (DATA_TAG, "weights_sha256")  # run tags a logged model and a version repeat
DESCRIBED = (
    "data.name", "model.hidden_size", "model.activation", "train.optimizer", "train.lr",
    "train.batch_size", "train.iters", "seed",
)  # the run params a version's description names  # fmt: skip


def describe(run_id: str, model_id: str, params: dict[str, str], score: float | None,
             data_sha256: str | None) -> str:  # fmt: skip
    """A version's description (markdown).

    Parameters
    ----------
    run_id, model_id : str
        The run that trained the network and the logged model it became.
    params : dict
        The run's params (flattened config keys); those of ``DESCRIBED`` are named.
    score : float or None
        Its ``SCORE``.
    data_sha256 : str or None
        The digest of the data it was trained and tested on.
    """
    rows = "\n".join(f"| `{key}` | {params[key]} |" for key in DESCRIBED if key in params)
    accuracy = "unknown" if score is None else f"**{score:.4f}**"
    return (
        f"Source run `{run_id}`, logged model `{model_id}`.\n\n"
        f"| param | value |\n|---|---|\n{rows}\n\n"
        f"Test accuracy {accuracy} on the data of sha256 `{data_sha256 or 'unknown'}`."
    )


def version_tags(
    run_id: str, model_id: str, metrics: dict[str, float], tags: dict[str, str]
) -> dict[str, str]:
    """A version's tags: its run and logged model, the run's final metrics (``final_*``) and
    its ``COPIED_TAGS``."""
    finals = {key: str(value) for key, value in metrics.items() if key.startswith("final_")}
    copied = {key: tags[key] for key in COPIED_TAGS if key in tags}
    return {"run_id": run_id, "model_id": model_id, **finals, **copied}
