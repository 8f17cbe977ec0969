"""The run tags the project sets and searches by, each named once.

MLflow's own: ``PARENT_TAG`` nests a run under another (the runs table shows it expandable).
The project's: a job's fingerprint (resume and reuse), a run's role, the sweep parent's list of
its jobs and its best run.
"""

from __future__ import annotations

PARENT_TAG = "mlflow.parentRunId"  # MLflow nests a run under the run this tag names
FINGERPRINT_TAG = "scratchnn.fingerprint"  # sha256 of the semantic config and the code
ROLE_TAG = "scratchnn.role"  # "job" or "sweep"
JOB_TAG_PREFIX = "scratchnn.job."  # on a sweep's parent: scratchnn.job.<number> = run id
BEST_RUN_TAG = "best_run_id"  # on a sweep's parent: the run with the best test accuracy
