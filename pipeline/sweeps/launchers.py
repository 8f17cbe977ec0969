"""Where a sweep's jobs run, and what that requires of the store.

Launchers are Hydra plugins picked by config (``launcher=joblib|ray|submitit_local|
submitit_slurm``, presets in ``conf/launcher/``). Jobs on other machines (a Ray cluster,
SLURM nodes) cannot write this machine's SQLite file, so a remote launcher needs a tracking
server: ``check_launcher_store`` refuses anything else before a job starts (preflight). A Ray
started here is kept on 127.0.0.1 (``keep_ray_local``).
"""

from __future__ import annotations

import os
from typing import Any

from omegaconf import DictConfig, OmegaConf

import pipeline.numerics as numerics
from pipeline.config import ConfigError
from pipeline.loopback import is_loopback
from pipeline.tracking.store import ENV_URI, PASSWORD_VAR, USERNAME_VAR, is_server, resolve_uri

CREDENTIALS = (USERNAME_VAR, PASSWORD_VAR)  # MLflow's: what a worker elsewhere logs in with

ENV_RAY_ADDRESS = "RAY_ADDRESS"
# "0" makes Ray use 127.0.0.1 as this node's address (the name says Windows/macOS, the switch
# works everywhere); otherwise Ray binds and dials the machine's network address.
ENV_RAY_CLUSTER = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def worker_env() -> dict[str, str]:
    """The environment a Ray worker starts with (``conf/launcher/ray.yaml``, resolver
    ``${worker_env:}``): the sweep's numerics (``numerics.ray_env``) and MLflow's credentials
    from this process's environment. Resolved when Ray starts, never written: Hydra's
    ``multirun.yaml`` keeps the interpolation."""
    credentials = {name: os.environ[name] for name in CREDENTIALS if name in os.environ}
    return {**numerics.ray_env(), **credentials}


def register_worker_env() -> None:
    """Make ``${worker_env:}`` available to the launcher's config."""
    OmegaConf.register_new_resolver("worker_env", worker_env, replace=True)


def ray_address(launcher: Any) -> str | None:
    """The Ray cluster ``hydra.launcher`` joins: ``ray.init.address``, else ``$RAY_ADDRESS``;
    None = a new Ray on this machine (``local``)."""
    address = OmegaConf.select(launcher, "ray.init.address", default=None)
    address = address or os.environ.get(ENV_RAY_ADDRESS)
    return None if address in (None, "", "local") else address


def is_local_ray(address: str) -> bool:
    """Whether a Ray address (``host:port``, ``ray://host:port``, ``auto``) is this machine's
    loopback; ``auto`` is not (it may be a cluster of many machines)."""
    host = address.split("://")[-1].rsplit(":", 1)[0] if ":" in address else address
    return is_loopback(host)


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
        if address is not None and not is_local_ray(address):
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
    uri = resolve_uri(cfg.tracking.uri, cfg.outputs_dir)
    if not is_server(uri):
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
        if address is None or is_local_ray(address):
            os.environ.setdefault(ENV_RAY_CLUSTER, "0")
