"""Benchmark of the fixed cost of a job: where each 0.1 s of a one-iteration job goes.

(a) The stages of each job of the default sweep at ``train.iters=1``, run one after another
    in one process (Hydra's basic launcher), each stage timed by a wrapper around the
    function that does it: a table of the first job (imports, caches) and the median of the
    others, and the sweep's own start and end.
(b) `make sweep` at ``train.iters=1`` (joblib, every core): its wall time and the fixed
    cost of a job it implies (wall x cores / jobs; goal <= 0.3 s).
(c) `make train ARGS='train.iters=1'` tracked and untracked, alternating: the ratio (goal
    <= 2).

Run: ``python tests/benchmarks/bench_job.py [--quick] [--reps N] [--against DIR] [ARGS...]``;
extra Hydra overrides apply to every command (``--quick``: one repetition of (c) and no (b));
``--against DIR`` times the tracked run of (c) in that copy of the project too (e.g. a
worktree of an earlier commit), alternating with this one.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from timing import ROOT, template_store, timed_pipeline

ONE_ITER = ["train.iters=1"]
# (label, module, attribute): each function (or Class.method) timed in (a), in job order
STAGES = [
    ("store check, channel (Recorder.__init__)", "pipeline.tracking.recorder", "Recorder.__init__"),
    ("data (load, cached per process)", "pipeline.jobs.training", "_load_data"),
    ("resume check (finished_twin)", "pipeline.tracking.recorder", "Recorder.finished_twin"),
    ("run creation: params, tags, config files", "pipeline.tracking.recorder", "Recorder.start"),
    ("datasets", "pipeline.tracking.recorder", "Recorder.log_datasets"),
    ("training (1 iteration, gradient check)", "pipeline.jobs.training", "_train"),
    ("evaluation, final metrics", "pipeline.jobs.training", "_outcome"),
    ("training figures (drawn, saved)", "pipeline.jobs.run_figures", "draw_training"),
    ("history.npz, weights.npz", "pipeline.tracking.recorder", "Recorder.save_arrays"),
    ("model logging", "pipeline.tracking.messages", "LogModel.apply"),
    ("digit figures (drawn, saved)", "pipeline.jobs.run_figures", "draw_digits"),
    ("end of run", "pipeline.tracking.recorder", "Recorder.end"),
    ("the whole job (pipeline.run.run)", "pipeline.run", "run"),
]
CALLBACK = "pipeline.sweeps.callback"
SWEEP_STAGES = [
    ("preflight: every job composed and checked", "pipeline.sweeps.preflight",
     "check_command_line"),
    ("sweep start: store, parent run", CALLBACK, "SweepCallback.on_multirun_start"),
    ("sweep end: summary, figures, registration", CALLBACK, "SweepCallback.on_multirun_end"),
]  # fmt: skip


def _timed(function, label: str, log: dict) -> object:
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            log[label].append(time.perf_counter() - start)

    return wrapper


def stages_child(out: Path, args: list[str]) -> None:
    """In a fresh process: wrap every stage, run the sweep, write the timings to ``out``."""
    import importlib

    started = time.perf_counter()
    log: dict[str, list[float]] = defaultdict(list)
    for label, module_name, attribute in STAGES + SWEEP_STAGES:
        owner = importlib.import_module(module_name)
        *classes, name = attribute.split(".")
        for cls in classes:
            owner = getattr(owner, cls)
        setattr(owner, name, _timed(getattr(owner, name), label, log))
    sys.argv = ["pipeline", *args]
    try:  # as `python -m pipeline`, which imports the functions wrapped above
        runpy.run_module("pipeline", run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        if stop.code:
            raise
    log["process (imports, Hydra, every job)"].append(time.perf_counter() - started)
    out.write_text(json.dumps(log))


def stage_table(tmp: Path, store: Path, extra: list[str]) -> None:
    outputs, timings = tmp / "stages", tmp / "stages.json"
    outputs.mkdir()
    (outputs / "mlflow.db").write_bytes(store.read_bytes())
    sweep = ["--multirun", "sweep=default", "force=true", "hydra/launcher=basic"]
    command = [sys.executable, __file__, "--stages-child", str(timings), *sweep, *ONE_ITER]
    done = subprocess.run([*command, *extra, f"outputs_dir={outputs}"], cwd=ROOT,
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"the stage timing failed:\n{done.stderr[-3000:]}")
    log = json.loads(timings.read_text())
    jobs = len(log["the whole job (pipeline.run.run)"])
    print(f"(a) one job at train.iters=1, by stage ({jobs} jobs one after another, one process)")
    print(f"{'stage':48s} {'first job':>10s} {'others':>10s}")
    for label, *_ in STAGES:
        times = log.get(label, [])
        first = f"{times[0]:.3f}" if times else "-"
        rest = f"{statistics.median(times[1:]):.3f}" if len(times) > 1 else "-"
        print(f"{label:48s} {first:>10s} {rest:>10s}")
    for label, *_ in SWEEP_STAGES:
        print(f"{label:48s} {sum(log.get(label, [0.0])):10.3f}")
    whole, jobs_sum = log["process (imports, Hydra, every job)"][0], sum(log[STAGES[-1][0]])
    print(f"{'the process; of it outside the jobs':48s} {whole:10.3f} {whole - jobs_sum:10.3f}")


def main() -> None:
    if sys.argv[1:2] == ["--stages-child"]:
        return stages_child(Path(sys.argv[2]), sys.argv[3:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="(a) and one repetition of (c)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of (b) and (c)")
    parser.add_argument("--against", type=Path, help="another copy of the project: (c) too")
    args, extra = parser.parse_known_args()
    reps = 1 if args.quick else args.reps
    with tempfile.TemporaryDirectory(prefix="bench-job-") as name:
        tmp = Path(name)
        store = template_store(tmp)
        stage_table(tmp, store, extra)
        if not args.quick:
            sweep = ["--multirun", "sweep=default", "force=true", *ONE_ITER, *extra]
            walls = [timed_pipeline(sweep, tmp / f"sweep-{n}", store) for n in range(reps)]
            wall, cores = statistics.median(walls), os.cpu_count() or 1
            print(f"(b) make sweep at train.iters=1 (27 jobs, median of {reps}): {wall:.1f} s; "
                  f"fixed cost of a job: {wall * cores / 27:.2f} s of a core "
                  "(goal <= 0.3)")  # fmt: skip
        modes = {"tracked": ([], ROOT), "untracked": (["tracking.enabled=false"], ROOT)}
        if args.against:
            modes[f"tracked, {args.against}"] = ([], args.against)
        times: dict[str, list[float]] = {mode: [] for mode in modes}
        for rep in range(reps):
            for n, (mode, (overrides, code)) in enumerate(modes.items()):
                outputs = tmp / f"train-{n}-{rep}"
                args_ = [*ONE_ITER, *overrides, *extra]
                times[mode].append(timed_pipeline(args_, outputs, store, code))
        median = {mode: statistics.median(times[mode]) for mode in modes}
        tracked, untracked = median["tracked"], median["untracked"]
        print(f"(c) make train ARGS='train.iters=1' (median of {reps}): tracked {tracked:.2f} s, "
              f"untracked {untracked:.2f} s: {tracked / untracked:.2f}x (goal <= 2)")  # fmt: skip
        for mode in list(modes)[2:]:
            print(f"    {mode}: {median[mode]:.2f} s: this code saves "
                  f"{1 - tracked / median[mode]:.1%} of it")  # fmt: skip


if __name__ == "__main__":
    main()
