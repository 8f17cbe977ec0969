"""How a run ends: MLflow's statuses, and each rule that picks one, written once.

- A job that ends its run says how: FINISHED, or FAILED when it diverged.
- A job stopped by an exception ends it FAILED; by Ctrl-C, SIGTERM or an exit, KILLED
  (``status_after``).
- A run its job never ended (its process died: SIGKILL, out of memory; or its spool file
  has no end) is ended by whoever finds it, KILLED (``NEVER_ENDED``).
- A run the store refused one of the records of (or whose spool file is damaged) ends FAILED
  whatever its job said (``ended_as``), so that an error never vanishes.
"""

from __future__ import annotations

FINISHED, FAILED, KILLED = "FINISHED", "FAILED", "KILLED"  # MLflow's
NEVER_ENDED = KILLED


def status_after(error: BaseException) -> str:
    """The status of a run stopped by ``error``: KILLED for Ctrl-C, SIGTERM and exits,
    FAILED for an error."""
    return FAILED if isinstance(error, Exception) else KILLED


def ended_as(status: str, refused: bool) -> str:
    """The status a run ends with: ``status`` (its job's), FAILED if the store ``refused``
    one of its records."""
    return FAILED if refused else status
