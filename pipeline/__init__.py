"""The scratchnn pipeline: Hydra-composed runs and sweeps of the numpy network, tracked in MLflow.

__main__  ``python -m pipeline``: the Hydra entry, calling ``run`` (one job)
config    the typed config schema and the task names; validation  its ranges and choices
errors    one-line errors and the exit codes; loopback  this machine's address; progress
stages/   data -> train -> evaluate, and the notebook's lessons: plain functions
figures/  pictures: arrays in, a matplotlib Figure out
model/    the trained network as an MLflow model, from code
tracking/ the MLflow edge: the only code that talks to a store
jobs/     one job of each task: the stages wired to tracking
sweeps/   around --multirun: preflight, the parent run, launchers, the sweep's summary
tools/    command-line tools: data, rerun, ui, server, serve

numerics  the BLAS kernel and SIMD level numpy computes with: set here, before numpy loads

Imports flow one way (``tests/test_layout.py``): scratchnn <- stages, figures <- model <-
tracking <- jobs, sweeps <- run <- tools and the entry, with no import circle.
"""

import pipeline.numerics as numerics

numerics.apply()  # first: OpenBLAS and numpy read it as they load, here and in children
