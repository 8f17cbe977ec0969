"""Where a sweep's jobs run, and what they need from the launching process.

Launchers are Hydra plugins picked by config (``launcher=joblib|ray|submitit_local|
submitit_slurm``, presets in ``conf/launcher/``). Jobs on other machines (a Ray cluster,
SLURM nodes) cannot write this machine's SQLite file, so a remote launcher needs a tracking
server: ``check_launcher_store`` refuses anything else before a job starts (preflight).

When a sweep starts, the sweep callback calls ``prepare_jobs``: every job, on whichever
machine, gets the store and sweep dir the parent run was created with (Hydra copies them
into each job's environment, ``hydra.job.env_copy``), and a Ray on this machine is kept on
127.0.0.1.
"""

from __future__ import annotations

import os
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from pipeline.config import ConfigError
from pipeline.tracking import ENV_URI, ENV_WRITER_SOCKET, resolve_uri

ENV_SWEEP_DIR = "SCRATCHNN_SWEEP_DIR"  # the absolute sweep dir the parent run is tagged with
ENV_RAY_ADDRESS = "RAY_ADDRESS"
# "0" makes Ray use 127.0.0.1 as this node's address (the name says Windows/macOS, the switch
# works everywhere); otherwise Ray binds and dials the machine's network address.
ENV_RAY_CLUSTER = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
SERVER_SCHEMES = ("http://", "https://")


def ray_address(launcher: Any) -> str | None:
    """The Ray cluster ``hydra.launcher`` joins: ``ray.init.address``, else ``$RAY_ADDRESS``;
    None = a new Ray on this machine (``local``)."""
    address = OmegaConf.select(launcher, "ray.init.address", default=None)
    address = address or os.environ.get(ENV_RAY_ADDRESS)
    return None if address in (None, "", "local") else address


def is_loopback(address: str) -> bool:
    """Whether a Ray address (``host:port``, ``ray://host:port``, ``auto``) is this machine's
    loopback; ``auto`` is not (it may be a cluster of many machines)."""
    host = address.split("://")[-1].rsplit(":", 1)[0] if ":" in address else address
    return host.strip("[]") in LOOPBACK


def _target(launcher: Any) -> str:
    return str(OmegaConf.select(launcher, "_target_", default="") or "")


def remote_reason(launcher: Any) -> str | None:
    """Why the jobs of ``hydra.launcher`` may run on other machines; None if they run here."""
    target = _target(launcher)
    if target.endswith(".SlurmLauncher"):
        return "hydra/launcher=submitit_slurm runs jobs on SLURM nodes"
    if target.endswith(".RayAWSLauncher"):
        return "hydra/launcher=ray_aws runs jobs on AWS machines"
    if target.endswith(".RayLauncher"):
        address = ray_address(launcher)
        if address is not None and not is_loopback(address):
            return f"hydra/launcher=ray runs jobs on the Ray cluster at {address}"
    return None


def check_launcher_store(cfg: DictConfig) -> None:
    """Refuse a remote launcher with a store only this machine can write.

    Raises
    ------
    ConfigError
        One line: why the jobs run elsewhere, the store they could not write, what to do.
    """
    reason = remote_reason(cfg.hydra.launcher)
    if reason is None or not cfg.tracking.enabled:
        return
    uri = resolve_uri(cfg.tracking, cfg.outputs_dir)
    if not uri.startswith(SERVER_SCHEMES):
        raise ConfigError(
            f"{reason}, which cannot write this machine's store {uri}; start a tracking "
            f"server they can reach (`make server`) and pass {ENV_URI}=http://<host>:<port> "
            "or tracking.uri=http://<host>:<port>"
        )


def keep_ray_local(launcher: Any) -> None:
    """A Ray started here, or a head on 127.0.0.1, talks over loopback only. Must run before
    ``ray`` is imported (the Ray launcher imports it when it launches)."""
    if _target(launcher).endswith(".RayLauncher"):
        address = ray_address(launcher)
        if address is None or is_loopback(address):
            os.environ.setdefault(ENV_RAY_CLUSTER, "0")


def prepare_jobs(config: DictConfig, sweep_dir: str) -> None:
    """Give every job the store and sweep dir of the parent run, wherever it runs.

    Both are set in this process's environment and named in ``hydra.job.env_copy``, which
    Hydra applies when it composes each job's config here, before the launcher ships it; a
    job on another machine (whose ``$MLFLOW_TRACKING_URI`` and working directory differ)
    then still writes to the parent's store and finds the parent by its tag. A job on this
    machine also finds this process's writer (``$SCRATCHNN_WRITER_SOCKET``, if shared); one
    elsewhere cannot reach it and starts its own.
    """
    os.environ[ENV_URI] = resolve_uri(config.tracking, config.outputs_dir)
    os.environ[ENV_SWEEP_DIR] = sweep_dir
    shared = [ENV_WRITER_SOCKET] if ENV_WRITER_SOCKET in os.environ else []
    names = list(dict.fromkeys([*config.hydra.job.env_copy, ENV_URI, ENV_SWEEP_DIR, *shared]))
    with read_write(config.hydra), open_dict(config.hydra):
        config.hydra.overrides.hydra.append(f"hydra.job.env_copy=[{','.join(names)}]")
