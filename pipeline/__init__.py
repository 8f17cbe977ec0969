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

The path of one value, ``train.lr``:

1. ``conf/train/sgd.yaml`` sets it (``lr: 0.1``); ``config.TrainConfig`` types it; a
   command line (``make train ARGS='train.lr=0.5'``) or a sweep preset overrides it.
2. ``__main__.main``: ``sweeps.preflight.check`` composes every job's config with Hydra's
   compose API and ``validation.validate`` refuses a bad value in one line, before anything
   runs (a sweep's later jobs are set from the first: ``sweeps.job_configs``).
3. ``@hydra.main`` composes the job again: Hydra's entry takes no config from outside, so
   this second pass is Hydra's own (each sweep job's, in its worker). ``run.run`` validates
   it again: it is also the library's entry (``make rerun``, tests), where nothing else has.
4. ``jobs.training.run_training``: ``stages.train.train`` reads it into the optimizer
   (``stages.steps``), and ``tracking.recorder.Recorder`` flattens the resolved config into
   params (``train.lr: 0.5``) sent as ``messages.StartRun`` to the writer process, whose
   ``tracking.mlflow_run.MlflowRun.start`` logs them with ``log_batch`` (100 a call).
"""

import pipeline.numerics as numerics

numerics.apply()  # first: OpenBLAS and numpy read it as they load, here and in children
