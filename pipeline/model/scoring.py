"""``python -m pipeline.model.scoring MODEL_URI HOST PORT``: serve a model, refusing bad input.

What ``make serve`` runs (``pipeline.tools.serve`` picks the run): a small Starlette app,
under uvicorn, speaking MLflow's scoring protocol for one tensor input. ``POST /invocations``
with ``{"inputs": rows}`` or ``{"instances": rows}`` answers ``{"predictions": ...}``, the
model's ``predict``; ``GET /ping`` and ``/health`` answer 200 once the model is loaded.
Before ``predict`` the input is checked against the model's input schema (its tensor's shape;
cast to its dtype); ``predict`` then checks the pixels (the model's own ``check_pixels``,
which every caller of the model gets). A bad request gets HTTP 400 and
``{"error_code": "INVALID_PARAMETER_VALUE", "message": ...}``: one short line naming what is
wrong and what is allowed, never the input (``mlflow models serve`` prepends the whole input
to the message).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import mlflow.pyfunc
import numpy as np
import uvicorn
from mlflow.exceptions import MlflowException
from mlflow.types import TensorSpec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

KEYS = ("inputs", "instances")  # MLflow's request keys for a tensor
MESSAGE_CHARS = 200  # a message of the model's own, cut to one short line


class Refusal(ValueError):
    """A bad request; its text is the one line that says what is wrong and what is allowed."""


def input_spec(model: mlflow.pyfunc.PyFuncModel) -> TensorSpec:
    """The one tensor of the model's input schema; ``ValueError`` if it has another schema."""
    schema = model.metadata.get_input_schema()
    if schema is None or not schema.is_tensor_spec() or len(schema.inputs) != 1:
        raise ValueError(f"the model's input schema is {schema}; allowed: one tensor (N, D)")
    return schema.inputs[0]


def allowed(spec: TensorSpec) -> str:
    """What ``spec`` allows, e.g. ``allowed: (N, 784) pixels in [0, 1]``."""
    sizes = ", ".join("N" if size == -1 else str(size) for size in spec.shape)
    return f"allowed: ({sizes}) pixels in [0, 1]"


def rows_of(body: bytes, rule: str) -> Any:
    """The rows of a JSON request ``{"inputs": rows}`` or ``{"instances": rows}``."""
    try:
        request = json.loads(body)
    except ValueError:
        raise Refusal(f"a body that is not JSON is not allowed; {rule}") from None
    found = [request[key] for key in KEYS if isinstance(request, dict) and key in request]
    if len(found) != 1:
        raise Refusal(f'a body without exactly one of "inputs", "instances" is not allowed; {rule}')
    return found[0]


def not_an_array(rows: Any) -> str:
    """What ``rows``, which numpy cannot make an array of numbers, are instead."""
    if isinstance(rows, list):
        lengths = sorted({len(row) for row in rows if isinstance(row, list)})
        if len(lengths) > 1:
            return f"input with rows of {lengths[0]} to {lengths[-1]} values"
    return "input that is not an array of numbers"


def tensor(body: bytes, spec: TensorSpec) -> np.ndarray:
    """The request ``body`` as an array of ``spec``'s dtype and shape, e.g. (N, 784).

    Raises
    ------
    Refusal
        Not JSON, no rows, not an array of numbers, or a wrong shape: one line, naming the
        shape but never the input.
    """
    rule = allowed(spec)
    rows = rows_of(body, rule)
    try:
        with np.errstate(over="ignore"):  # 1e39 as float32 is inf: the model refuses it
            x = np.asarray(rows, dtype=spec.type)
    except (TypeError, ValueError):  # ragged rows, text, objects
        raise Refusal(f"{not_an_array(rows)} is not allowed; {rule}") from None
    if x.ndim != len(spec.shape) or any(
        size not in (-1, n) for size, n in zip(spec.shape, x.shape, strict=True)
    ):
        raise Refusal(f"input of shape {x.shape} is not allowed; {rule}")
    return x


def json_response(content: dict, status: int = 200) -> Response:
    """``content`` as JSON, written as MLflow's scoring server writes it."""
    return Response(json.dumps(content), status_code=status, media_type="application/json")


def refused(message: str) -> Response:
    """HTTP 400 with ``message`` as one short line, in MLflow's error body."""
    line = " ".join(message.split())[:MESSAGE_CHARS]
    return json_response({"error_code": "INVALID_PARAMETER_VALUE", "message": line}, 400)


def answer(model: mlflow.pyfunc.PyFuncModel, spec: TensorSpec, body: bytes) -> Response:
    """The model's predictions for a request ``body``, or HTTP 400 with one line."""
    try:
        x = tensor(body, spec)
    except Refusal as refusal:
        return refused(str(refusal))
    try:
        predictions = model.predict(x)
    except MlflowException as error:  # the model's own refusal (check_pixels), one line
        return refused(error.message)
    return json_response({"predictions": np.asarray(predictions).tolist()})


def scoring_app(model: mlflow.pyfunc.PyFuncModel) -> Starlette:
    """The ASGI app that serves ``model`` (loaded once, by the caller)."""
    spec = input_spec(model)

    async def invocations(request: Request) -> Response:
        body = await request.body()
        return await asyncio.to_thread(answer, model, spec, body)

    async def ping(request: Request) -> Response:
        return Response("\n", media_type="application/json")

    return Starlette(
        routes=[
            Route("/invocations", invocations, methods=["POST"]),
            *(Route(path, ping, methods=["GET"]) for path in ("/ping", "/health")),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_uri", help="e.g. runs:/<run id>/model")
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    args = parser.parse_args(argv)
    try:
        app = scoring_app(mlflow.pyfunc.load_model(args.model_uri))
    except (MlflowException, OSError, ValueError) as error:
        sys.exit(f"error: {' '.join(str(error).split())}")
    uvicorn.run(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
