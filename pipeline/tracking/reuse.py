"""Which finished run a resumed sweep's job reuses instead of running again.

A job reuses a FINISHED run with its fingerprint (the same semantic config and code:
``provenance.fingerprint``) only if that run holds what the job's tracking settings ask for:
a run made with ``tracking.log_model=false`` has no model for a sweep that registers one.
Such a job runs again, and its log names the run it could not reuse.
"""

from __future__ import annotations

import logging
from typing import Any

# Tracking settings that add to what a run holds (the fingerprint leaves ``tracking`` out)
OUTPUT_KEYS = ("log_model", "log_figures")
log = logging.getLogger(__name__)


def lacks(tracking: Any, params: dict[str, str]) -> list[str]:
    """The keys of ``OUTPUT_KEYS`` that ``tracking`` (a job's ``tracking`` config) turns on
    and a run of ``params`` (its logged params) ran with off: what reusing it would leave out."""
    asked = [key for key in OUTPUT_KEYS if tracking[key]]
    return [key for key in asked if params.get(f"tracking.{key}") != str(True)]


def reusable(twins: list[dict[str, Any]], tracking: Any) -> dict[str, Any] | None:
    """The first of ``twins`` (finished runs with the job's fingerprint, newest first:
    ``{"run_id", "status", "metrics", "params"}``) that lacks nothing ``tracking`` asks for;
    None, with a warning naming the newest twin, if each lacks something."""
    holding = [twin for twin in twins if not lacks(tracking, twin["params"])]
    if twins and not holding:
        missing = " and ".join(
            f"tracking.{key}=true" for key in lacks(tracking, twins[0]["params"])
        )
        log.warning("run %s finished earlier without what %s asks for: this job runs again",
                    twins[0]["run_id"], missing)  # fmt: skip
    return holding[0] if holding else None
