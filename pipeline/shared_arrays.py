"""Named numpy arrays in one block of shared memory, mapped by another process by its spec."""

from __future__ import annotations

import shutil
import sys
from multiprocessing import resource_tracker, shared_memory
from pathlib import Path
from typing import Any

import numpy as np

ALIGN = 64  # bytes: every array starts on a cache line
SHM_DIR = Path("/dev/shm")  # where Linux keeps shared memory (64 MB by default in Docker)


def free_bytes() -> float:
    """Room left for shared memory: the free space of /dev/shm, or unbounded elsewhere."""
    return shutil.disk_usage(SHM_DIR).free if SHM_DIR.is_dir() else float("inf")


class SharedArrays:
    """Arrays ``arrays[name]`` laid out one after another in a ``SharedMemory`` block.

    ``create`` makes the block (its creator unlinks it); ``spec`` is a JSON-able description
    that ``attach`` maps in another process.
    """

    def __init__(self, memory: shared_memory.SharedMemory, layout: dict[str, list]) -> None:
        self._memory, self._layout = memory, layout
        self.arrays = {
            name: np.ndarray(shape, np.dtype(dtype), buffer=memory.buf, offset=offset)
            for name, (shape, dtype, offset) in layout.items()
        }

    @classmethod
    def create(cls, shapes: dict[str, tuple[tuple[int, ...], Any]]) -> SharedArrays:
        """A new block holding an uninitialised array per ``name: (shape, dtype)``."""
        layout, size = {}, 0
        for name, (shape, dtype) in shapes.items():
            dtype = np.dtype(dtype)
            layout[name] = [list(shape), dtype.str, size]
            size += -(-int(np.prod(shape)) * dtype.itemsize // ALIGN) * ALIGN
        return cls(shared_memory.SharedMemory(create=True, size=max(size, 1)), layout)

    @property
    def spec(self) -> dict[str, Any]:
        return {"name": self._memory.name, "layout": self._layout}

    @classmethod
    def attach(cls, spec: dict[str, Any]) -> SharedArrays:
        """Map the block ``spec`` describes; only its creator unlinks it."""
        if sys.version_info >= (3, 13):
            memory = shared_memory.SharedMemory(name=spec["name"], track=False)
        else:  # attaching registers the block too, and its tracker would unlink it at exit
            memory = shared_memory.SharedMemory(name=spec["name"])
            resource_tracker.unregister(memory._name, "shared_memory")
        return cls(memory, spec["layout"])

    def close(self, unlink: bool) -> None:
        """Drop the arrays and unmap the block; ``unlink`` (the creator) frees it."""
        self.arrays = {}
        self._memory.close()
        if unlink:
            self._memory.unlink()
