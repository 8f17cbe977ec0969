"""Measurement switches (temporary): ``SCRATCHNN_OFF=piece,piece`` turns speed-ups off, so
``tests/benchmarks/bench_pieces.py`` can time each piece alone against the plain version.

Pieces: ``sql_bulk`` (bulk metric inserts: ``log_batch`` instead), ``writer`` (MLflow calls
in this process, no writer process), ``shared_writer`` (each sweep job process starts its
own writer), ``compose_cache`` (preflight composes every job in full), ``fused`` (the plain
``loss_and_gradient`` + ``SGD.update`` step instead of ``FusedSGD``), ``fused_accuracy``
(``net.accuracy`` instead of the chunked ``scratchnn.fused.accuracy``).
"""

from __future__ import annotations

import os

ENV = "SCRATCHNN_OFF"


def off(piece: str) -> bool:
    """Whether ``piece`` is switched off in this process (and its children)."""
    return piece in os.environ.get(ENV, "").split(",")
