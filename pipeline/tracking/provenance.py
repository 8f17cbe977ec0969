"""Where a result came from: code version, git state, environment, and config fingerprints."""

from __future__ import annotations

import getpass
import hashlib
import json
import platform
import socket
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

import pipeline.numerics as numerics
from pipeline.tracking.tags import (
    MLFLOW_GIT_BRANCH,
    MLFLOW_GIT_COMMIT,
    MLFLOW_GIT_DIRTY,
    MLFLOW_GIT_REPO_URL,
    MLFLOW_SOURCE_NAME,
    MLFLOW_SOURCE_TYPE,
    MLFLOW_USER,
    NUMERICS_TAG,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SOURCE_PACKAGES = ("scratchnn", "pipeline")
# Keys that change where or how a run is reported, never what it computes (the numerical
# gradient's thread count is such a key: the results are the same bit for bit).
NON_SEMANTIC_KEYS = (
    "tracking",
    "progress",
    "force",
    "outputs_dir",
    "data.data_dir",
    "train.numerical_threads",
)


@cache
def code_version() -> str:
    """sha256 (first 16 hex digits) of the library and pipeline sources, in path order."""
    digest = hashlib.sha256()
    for package in SOURCE_PACKAGES:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            digest.update(path.relative_to(PROJECT_ROOT).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class GitState:
    """The work tree's git state; ``commit`` "unknown" outside a git checkout."""

    commit: str = "unknown"
    dirty: bool = False
    branch: str | None = None
    remote_url: str | None = None  # ``origin``'s URL, when there is one


@cache
def git_state() -> GitState:
    """The commit, uncommitted changes, branch and ``origin`` URL of the project's checkout."""

    def git(*args: str) -> str:
        out = subprocess.run(
            ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10
        )
        if out.returncode != 0:
            raise OSError(out.stderr.strip())
        return out.stdout.strip()

    def optional(*args: str) -> str | None:
        try:
            return git(*args) or None
        except OSError:
            return None

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return GitState()
    branch = optional("rev-parse", "--abbrev-ref", "HEAD")
    return GitState(
        commit, dirty, None if branch == "HEAD" else branch, optional("remote", "get-url", "origin")
    )


@cache
def blas_info() -> str:
    """The BLAS library numpy uses, e.g. ``openblas 0.3.31 Haswell``."""
    from threadpoolctl import threadpool_info

    blas = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    if not blas:
        return "unknown"
    return " ".join(str(blas[0].get(k, "")) for k in ("internal_api", "version", "architecture"))


@cache
def simd_info() -> str:
    """The SIMD extensions numpy's dispatch uses above its baseline, e.g. ``X86_V3`` (the
    portable profile) or ``X86_V3 X86_V4 AVX512_ICL``."""
    found = np.show_config(mode="dicts")["SIMD Extensions"]["found"]
    return " ".join(found) or "baseline"


def semantic_config(resolved: dict[str, Any]) -> dict[str, Any]:
    """The resolved config without the keys that cannot change a result."""
    kept = json.loads(json.dumps(resolved))
    for dotted in NON_SEMANTIC_KEYS:
        *parents, leaf = dotted.split(".")
        node = kept
        for parent in parents:
            node = node.get(parent, {})
        node.pop(leaf, None)
    return kept


def is_semantic(key: str) -> bool:
    """Whether the flattened config key ``key`` (e.g. ``train.lr``) can change a result."""
    return not any(key == k or key.startswith(f"{k}.") for k in NON_SEMANTIC_KEYS)


def fingerprint(resolved: dict[str, Any]) -> str:
    """sha256 (16 hex) of the semantic config and the code version: equal means same result."""
    payload = json.dumps(
        {"config": semantic_config(resolved), "code": code_version()}, sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def system_tags(command: str) -> dict[str, str]:
    """MLflow's own provenance tags, which its UI shows as a run's "Source", "Created by" and
    git commit: the ``command`` that ran it (a LOCAL source), the user, the checkout's git
    state."""
    git = git_state()
    tags = {
        MLFLOW_SOURCE_NAME: command,
        MLFLOW_SOURCE_TYPE: "LOCAL",
        MLFLOW_USER: getpass.getuser(),
        MLFLOW_GIT_COMMIT: git.commit,
        MLFLOW_GIT_DIRTY: str(git.dirty).lower(),
    }
    if git.branch:
        tags[MLFLOW_GIT_BRANCH] = git.branch
    if git.remote_url:
        tags[MLFLOW_GIT_REPO_URL] = git.remote_url
    return tags


def environment_tags() -> dict[str, str]:
    """Tags describing code and machine, logged with every run (its git commit and dirty
    flag are MLflow's own tags: ``system_tags``)."""
    return {
        "code_version": code_version(),
        "numpy_version": np.__version__,
        "blas": blas_info(),
        "simd": simd_info(),
        NUMERICS_TAG: numerics.mode(),
        "python_version": platform.python_version(),
        **node_tags(),
    }


def node_tags() -> dict[str, str]:
    """Where a job ran: ``scratchnn.host`` (the host name) and ``scratchnn.node``: the Ray node's
    id in a Ray task (several nodes may share a host), else the host name again."""
    host = socket.gethostname()
    ray = sys.modules.get("ray")  # imported only by a Ray worker or driver, never here
    in_ray = ray is not None and ray.is_initialized()
    return {
        "scratchnn.host": host,
        "scratchnn.node": ray.get_runtime_context().get_node_id() if in_ray else host,
    }


def weights_sha256(params: dict[str, np.ndarray]) -> str:
    """sha256 of the parameter arrays (key order, dtype, shape and C-order bytes)."""
    digest = hashlib.sha256()
    for key in sorted(params):
        array = np.ascontiguousarray(params[key])
        digest.update(f"{key}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
