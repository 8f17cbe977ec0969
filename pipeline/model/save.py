"""A trained network saved as an MLflow pyfunc model folder, from code (no pickle).

``save_model`` writes, with ``mlflow.pyfunc.save_model``, the model of ``network_model.py``:
that file as its code, the run's plain ``weights.npz`` as its artifact, ``scratchnn`` as its
code path, a tensor signature and a few real input rows as its example. It only writes a
folder; ``pipeline.tracking`` logs that folder as the artifacts of the run's MLflow 3 logged
model named ``model``, which ``models:/<model id>`` and ``runs:/<run id>/model`` load.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

import scratchnn

MODEL_DIR = "model"  # the name of a run's logged model: runs:/<run id>/model loads it
MODEL_CODE = Path(__file__).with_name("network_model.py")


def save_model(
    folder: Path,
    weights_path: str,
    example_path: str,
    activation: str,
    run_id: str | None = None,
    model_id: str | None = None,
) -> None:
    """Save the network of ``weights_path`` as an MLflow model in the new folder ``folder``.

    Parameters
    ----------
    folder : Path
        Where the model goes; must not exist yet.
    weights_path : str
        ``.npz`` of ``W1`` (D, H), ``b1`` (H,), ``W2`` (H, C), ``b2`` (C,).
    example_path : str
        ``.npy`` of a few real input rows (n, D), float32: the model's input example.
    activation : str
        The hidden layer's, a key of ``scratchnn.layers.ACTIVATIONS``.
    run_id, model_id : str, optional
        The run that trained it and the logged model it becomes: its ``MLmodel`` names them.
    """
    import mlflow.pyfunc
    from mlflow.models import Model, ModelSignature
    from mlflow.types import Schema, TensorSpec

    from pipeline.model.network_model import ACTIVATION_KEY, WEIGHTS_ARTIFACT, load_network

    net = load_network(weights_path, activation)
    example = np.load(example_path, allow_pickle=False).astype(np.float32)
    (n_features, _), n_classes = net.params["W1"].shape, net.params["b2"].shape[0]
    signature = ModelSignature(
        Schema([TensorSpec(np.dtype(np.float32), (-1, n_features))]),
        Schema([TensorSpec(net.predict(example).dtype, (-1, n_classes))]),
    )
    quiet = logging.getLogger("mlflow.pyfunc")  # its INFO line, once per run, says nothing
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        mlflow.pyfunc.save_model(
            folder,
            mlflow_model=Model(run_id=run_id, model_id=model_id),
            python_model=str(MODEL_CODE),
            artifacts={WEIGHTS_ARTIFACT: weights_path},
            model_config={ACTIVATION_KEY: activation},
            code_paths=[str(Path(scratchnn.__file__).parent)],
            signature=signature,
            input_example=example,
            pip_requirements=[f"mlflow=={mlflow.__version__}", f"numpy=={np.__version__}"],
        )
    finally:
        quiet.setLevel(level)
