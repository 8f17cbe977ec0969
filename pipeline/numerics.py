"""The numerics a run computes with: one fixed BLAS kernel and SIMD level, or the machine's.

OpenBLAS picks its kernel from the CPU (SkylakeX, Haswell, Zen, ...) and numpy its SIMD level
(X86_V3, X86_V4, ...), each once, when it loads; different kernels give different float bits,
so a run made on one machine does not rerun bit for bit on another. The portable profile
(``PROFILE``) fixes both: OpenBLAS's Haswell kernel (what an AVX2 laptop or an AMD Zen picks
anyway) and numpy's SIMD capped at X86_V3 (AVX2 and FMA). With the pinned wheels, every
x86-64 machine with AVX2 and FMA (``NEEDED``) then computes the same bits: ``train.portable``
true, the default. ``train.portable=false`` computes with what the machine picks, honouring
the environment's own ``OPENBLAS_CORETYPE`` and ``NPY_DISABLE_CPU_FEATURES``.

Both libraries read these variables only when they load, so this module never imports numpy:
``pipeline/__init__`` calls ``apply`` before anything loads it, child processes (joblib's,
submitit's) inherit the environment it sets, Ray's workers get it as their runtime
environment (``ray_env``, in ``sweeps.launchers.worker_env``), and a process that loaded numpy the
other way starts again (``require``).
"""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

PROFILE = {  # the portable profile: environment variables read when the libraries load
    "OPENBLAS_CORETYPE": "Haswell",
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",  # numpy 2.4's groups above V3
}
NEEDED = ("avx2", "fma")  # CPU flags the profile's kernels use (x86-64 only)
MODE_VAR = "SCRATCHNN_NUMERICS"  # portable | machine: what this process's numpy computes with
OWN_VAR = "SCRATCHNN_OWN_NUMERICS_ENV"  # the environment's own values of PROFILE's variables
PORTABLE, MACHINE = "portable", "machine"
LOADED: dict[str, str] = {}  # "mode": what numpy loaded with here (absent: before pipeline)


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux's ``/proc/cpuinfo``; empty where it cannot tell)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((row for row in text.splitlines() if row.startswith("flags")), "")
    return set(line.partition(":")[2].split())


@cache
def cannot_run() -> str | None:
    """Why this machine cannot compute with the profile, or None when it can."""
    machine = platform.machine()
    if machine.lower() not in ("x86_64", "amd64"):
        return f"it is {machine}, not x86-64"
    missing = [flag for flag in NEEDED if flag not in cpu_flags()]
    return f"its CPU lacks {' and '.join(missing).upper()}" if missing else None


def own_environment() -> dict[str, str | None]:
    """The values ``PROFILE``'s variables had before this project set them (None: unset)."""
    if OWN_VAR in os.environ:
        return json.loads(os.environ[OWN_VAR])
    return {name: os.environ.get(name) for name in PROFILE}


def use(portable: bool) -> None:
    """Set this process's environment for ``portable`` (its children inherit it, and numpy
    reads it if it has not loaded yet): the profile's variables, or the environment's own."""
    own = own_environment()
    os.environ[OWN_VAR] = json.dumps(own)
    wanted = PROFILE if portable and cannot_run() is None else own
    for name, value in wanted.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    os.environ[MODE_VAR] = PORTABLE if portable else MACHINE


def apply() -> None:
    """What ``pipeline/__init__`` does first: the mode this process was started in (a child
    inherits its parent's), else the portable profile; noted in ``LOADED`` if numpy has not
    loaded yet (it will load with it)."""
    use(os.environ.get(MODE_VAR, PORTABLE) == PORTABLE)
    if "numpy" not in sys.modules:
        LOADED["mode"] = os.environ[MODE_VAR]


def require(portable: bool, before_restart: Callable[[], None] = lambda: None) -> None:
    """Make this process compute as ``portable`` says: set the environment and, if numpy
    loaded the other way already, call ``before_restart`` (e.g. stop a child) and start the
    process again with the same command line (an entry point's call, before it computes)."""
    use(portable)
    if "numpy" not in sys.modules:
        LOADED["mode"] = os.environ[MODE_VAR]
    elif LOADED.get("mode") != os.environ[MODE_VAR]:
        before_restart()
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def mode() -> str:
    """What this process computes with: ``portable`` (the profile, where it can run) or
    ``machine``."""
    loaded = LOADED.get("mode", os.environ.get(MODE_VAR, MACHINE))
    return PORTABLE if loaded == PORTABLE and cannot_run() is None else MACHINE


def problem(portable: bool, blas: str, simd: str) -> str | None:
    """Why this process, whose numpy computes with ``blas`` (``openblas 0.3.31 Haswell``) and
    the SIMD extensions ``simd``, cannot compute as ``train.portable=portable`` asks: numpy
    loaded here the other way. None: it can (or the profile cannot run here: ``notice``)."""
    asked = PORTABLE if portable else MACHINE
    loaded = LOADED.get("mode")
    if cannot_run() is not None or loaded == asked:
        return None
    if loaded is None:  # numpy loaded before pipeline: the variables it loaded with are unknown
        kernel = PROFILE["OPENBLAS_CORETYPE"]
        profiled = blas.split()[-1:] == [kernel] and "X86_V4" not in simd.split()
        if not portable or profiled or not blas.startswith("openblas"):
            return None
    shown = str(portable).lower()
    return (
        f"train.portable={shown} is not allowed in this process: its numpy loaded with "
        f"{blas}, SIMD {simd}; allowed: a new `python -m pipeline` with train.portable={shown}"
    )


def notice(portable: bool) -> str | None:
    """The line a run prints at its start when it asks for the profile on a machine that
    cannot run it (None otherwise)."""
    why = cannot_run() if portable else None
    if why is None:
        return None
    needs = " and ".join(flag.upper() for flag in NEEDED)
    return (
        f"train.portable=true: this machine cannot run the portable numerics ({why}; it needs "
        f"x86-64 with {needs}): computing with what it picks, recorded in the blas and simd tags"
    )


def ray_env() -> dict[str, str]:
    """The environment a Ray worker starts with to compute as this process's children do:
    the mode and, for the portable profile, its variables."""
    mode = os.environ.get(MODE_VAR, PORTABLE)
    profile = PROFILE if mode == PORTABLE and cannot_run() is None else {}
    return {MODE_VAR: mode, **profile}
