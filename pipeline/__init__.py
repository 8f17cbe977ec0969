"""The scratchnn pipeline: Hydra-composed runs and sweeps of the numpy network, tracked in MLflow.

__main__  ``python -m pipeline``: the Hydra entry, calling ``run``
config    the typed config schema and its validation
run       one job: the stages wired to the MLflow edge
progress  the progress bar (one run) or lines (a sweep)
stages/   data -> train -> evaluate, and the gradient-descent task: plain functions
tracking/ the MLflow edge: recording, figures, the sweep summary
sweeps/   the sweep machinery: preflight of every job, the Hydra callback, launchers
tools/    command-line tools: data, rerun, ui, server

Imports flow one way: scratchnn <- stages <- tracking and sweeps <- entry.
"""
