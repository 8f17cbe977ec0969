"""The run tags the project sets and searches by, each named once.

MLflow's own (its "system tags", which its UI reads): the parent that nests a run, a run's
description, where it came from. The project's: a job's fingerprint (resume and reuse), a
run's role, a job's number in its sweep, the sweep's best run.
"""

from __future__ import annotations

PARENT_TAG = "mlflow.parentRunId"  # MLflow nests a run under the run this tag names
NOTE_TAG = "mlflow.note.content"  # a run's description (markdown) on its page
# MLflow's provenance tags (``mlflow.utils.mlflow_tags``), shown as Source and Created by
MLFLOW_SOURCE_NAME, MLFLOW_SOURCE_TYPE = "mlflow.source.name", "mlflow.source.type"
MLFLOW_USER = "mlflow.user"
MLFLOW_GIT_COMMIT, MLFLOW_GIT_DIRTY = "mlflow.source.git.commit", "mlflow.source.git.dirty"
MLFLOW_GIT_BRANCH, MLFLOW_GIT_REPO_URL = "mlflow.source.git.branch", "mlflow.source.git.repoURL"
FINGERPRINT_TAG = "scratchnn.fingerprint"  # sha256 of the semantic config and the code
ROLE_TAG = "scratchnn.role"  # JOB_ROLE or SWEEP_ROLE
JOB_ROLE, SWEEP_ROLE = "job", "sweep"  # a sweep's job run, its parent run
NUMERICS_TAG = "numerics"  # portable or machine: pipeline.numerics's mode the run computed in
JOB_TAG = "scratchnn.job"  # on a sweep's job run: its number in the sweep
JOBS_DIR = "jobs"  # not a tag: a sweep parent's artifacts jobs/<number>.json name its jobs' runs
BEST_RUN_TAG = "best_run_id"  # on a sweep's parent: the chosen run (stages.selection)
SPOOL_TAG = "scratchnn.spool"  # on a run sent through a spool (tracking server): the spool's name
