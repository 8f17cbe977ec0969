"""A trained ``TwoLayerNet`` as an MLflow pyfunc model, defined from code.

MLflow runs this file (copied into each model as ``model/network_model.py``) when it loads a
model, so nothing is pickled: the weights are the run's plain ``weights.npz`` (artifact
``weights``), read with ``allow_pickle=False``, and the hidden layer's activation comes from
the model config (``activation``). The forward pass is ``scratchnn``'s own
``TwoLayerNet.predict``, whose code the model carries (``model/code/scratchnn/``).

``predict`` takes pixels (N, D) in [0, 1] and answers class probabilities (N, C). Bad input
fails with one line (an ``MlflowException``: HTTP 400 when served).
"""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PythonModel

from scratchnn.networks import PARAM_KEYS, TwoLayerNet

WEIGHTS_ARTIFACT = "weights"  # the artifact key of weights.npz
ACTIVATION_KEY = "activation"  # the model config key of the hidden layer's activation


def load_network(weights_path: str, activation: str) -> TwoLayerNet:
    """The ``TwoLayerNet`` whose parameters ``weights_path`` (an ``.npz``) holds."""
    with np.load(weights_path, allow_pickle=False) as weights:
        params = {key: weights[key] for key in PARAM_KEYS}
    (n_features, hidden_size), n_classes = params["W1"].shape, params["b2"].shape[0]
    net = TwoLayerNet(
        n_features, hidden_size, n_classes, activation=activation, dtype=params["W1"].dtype
    )
    net.params.update(params)
    return net


def check_pixels(x: np.ndarray, n_features: int) -> None:
    """Refuse, in one line, what is not a batch (N, ``n_features``) of finite values in [0, 1]."""
    if x.ndim != 2 or x.shape[1] != n_features:
        problem = f"input of shape {x.shape} is not allowed"
        raise MlflowException.invalid_parameter_value(
            f"{problem}; allowed: (N, {n_features}) pixels in [0, 1]"
        )
    bad = ~np.isfinite(x) | (x < 0) | (x > 1)
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        value = float(x[row, column])
        raise MlflowException.invalid_parameter_value(
            f"input[{row}, {column}]={value!r} is not allowed; allowed: pixels in [0, 1] "
            f"({int(bad.sum())} bad values)"
        )


class NetworkModel(PythonModel):
    """``TwoLayerNet.predict`` of the weights the model was saved with."""

    def load_context(self, context: Any) -> None:
        self.net = load_network(
            context.artifacts[WEIGHTS_ARTIFACT], context.model_config[ACTIVATION_KEY]
        )

    def predict(self, context: Any, model_input: np.ndarray, params: Any = None) -> np.ndarray:
        """pixels (N, D) -> class probabilities (N, C)."""
        x = np.asarray(model_input)
        check_pixels(x, self.net.params["W1"].shape[0])
        return self.net.predict(x)


mlflow.models.set_model(NetworkModel())
