"""Epoch evaluation: full-set train and test accuracy, inline or in a worker process.

Each epoch the train stage measures the accuracy of the whole training and test sets: about
a third of a book run on one core. ``BackgroundEvaluator`` moves that work to a worker
process (``python -m pipeline.evaluator``) on the other core: at an epoch start the train
stage copies the parameters into a shared-memory slot and goes on training; the answers come
back in order. The worker runs the same ``scratchnn.fused.accuracy`` on the same arrays with
the same BLAS thread count as ``InlineEvaluator``, so both give bit-identical accuracies.

Only JSON lines and shared memory pass between the processes (no pickle). ``close`` kills
the worker and frees the memory; if the training process dies, the worker sees its stdin
close and exits, and Python's resource tracker unlinks the memory.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import sys
import threading
from collections import deque
from types import SimpleNamespace
from typing import NamedTuple

import numpy as np

from pipeline.shared_arrays import SharedArrays, free_bytes
from pipeline.switches import off
from scratchnn import TwoLayerNet
from scratchnn.fused import accuracy

DATA_KEYS = ("x_train", "labels_train", "x_test", "labels_test")
log = logging.getLogger(__name__)


class EpochResult(NamedTuple):
    epoch: int
    iteration: int
    train_acc: float
    test_acc: float


def epoch_accuracies(net, data: dict[str, np.ndarray]) -> tuple[float, float]:
    """(train accuracy, test accuracy) of ``net`` on ``data`` (keys as ``DATA_KEYS``): the
    one computation both evaluators run, so their results are bit-identical."""
    if off("fused_accuracy"):
        plain = TwoLayerNet(1, 1, 1, activation=net.activation)
        plain.params = net.params
        return plain.accuracy(data["x_train"], data["labels_train"]), plain.accuracy(
            data["x_test"], data["labels_test"]
        )
    train_acc = accuracy(net, data["x_train"], data["labels_train"])
    return train_acc, accuracy(net, data["x_test"], data["labels_test"])


class InlineEvaluator:
    """Evaluates at once, in this process, when ``submit`` is called.

    Parameters
    ----------
    net : TwoLayerNet
        Evaluated with its current parameters.
    data : dict
        ``x_train`` (M, D), ``labels_train`` (M,), ``x_test`` (K, D), ``labels_test`` (K,).
    """

    def __init__(self, net, data: dict[str, np.ndarray]) -> None:
        self.net, self.data = net, data
        self.submitted = 0  # the epoch number of the next submission
        self._done: list[EpochResult] = []

    def submit(self, iteration: int) -> None:
        """Evaluate the parameters as they are now, at ``iteration``, as the next epoch."""
        train_acc, test_acc = epoch_accuracies(self.net, self.data)
        self._done.append(EpochResult(self.submitted, iteration, train_acc, test_acc))
        self.submitted += 1

    def ready(self) -> list[EpochResult]:
        """Results not returned before, in submission order."""
        done, self._done = self._done, []
        return done

    def wait_all(self) -> list[EpochResult]:
        return self.ready()

    def close(self) -> list[EpochResult]:
        return self.ready()


class BackgroundEvaluator(InlineEvaluator):
    """Evaluates in a worker process; ``submit`` waits only when every slot is busy.

    Parameters
    ----------
    net, data
        As for ``InlineEvaluator``; ``data`` is copied once into shared memory (by a thread,
        while training starts).
    blas_threads : int, optional
        The worker's BLAS threads; by default this process's current count, so that both
        evaluators give identical results.
    n_slots : int
        Parameter snapshots that may wait for the worker at once.
    """

    def __init__(
        self, net, data: dict[str, np.ndarray], blas_threads: int | None = None, n_slots: int = 2
    ) -> None:
        super().__init__(net, data)
        layout = {k: (data[k].shape, data[k].dtype) for k in DATA_KEYS}
        for slot in range(n_slots):
            layout |= {f"{slot}/{k}": (v.shape, v.dtype) for k, v in net.params.items()}
        self.memory = SharedArrays.create(layout)
        self._free, self._busy = deque(range(n_slots)), deque()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline.evaluator"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,  # Ctrl-C reaches training; ``close`` stops the worker
        )
        self._answers: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._requests: queue.SimpleQueue[dict | None] = queue.SimpleQueue()
        spec = {"memory": self.memory.spec, "activation": net.activation}
        spec |= {"blas_threads": blas_threads or current_blas_threads()}
        self._requests.put(spec | {"param_keys": list(net.params)})
        self._sender = threading.Thread(target=self._send, daemon=True)
        self._sender.start()
        threading.Thread(target=self._read_answers, daemon=True).start()

    def _send(self) -> None:
        """Copy the data into shared memory (numpy releases the GIL: training goes on), then
        pass the worker its spec and each request, until ``None``."""
        for key in DATA_KEYS:
            np.copyto(self.memory.arrays[key], self.data[key])
        try:
            while (message := self._requests.get()) is not None:
                self._proc.stdin.write(json.dumps(message) + "\n")
                self._proc.stdin.flush()
            self._proc.stdin.close()
        except (BrokenPipeError, ValueError):  # the worker died: its answers say so
            pass

    def _read_answers(self) -> None:
        with self._proc.stdout as answers:
            for line in answers:
                self._answers.put(line)
        self._answers.put("")  # end of output: the worker stopped

    def submit(self, iteration: int) -> None:
        if not self._free:
            self._collect(block=True)
        slot = self._free.popleft()
        for key, value in self.net.params.items():
            np.copyto(self.memory.arrays[f"{slot}/{key}"], value)
        self._busy.append(slot)
        self._requests.put({"slot": slot, "epoch": self.submitted, "iteration": iteration})
        self.submitted += 1

    def _collect(self, block: bool) -> None:
        """Move answers into the ready list; with ``block``, wait for at least one."""
        while self._busy:
            try:
                line = self._answers.get(block=block)
            except queue.Empty:
                return
            if not line:
                code = self._proc.wait()
                raise RuntimeError(f"the evaluation worker stopped (exit code {code})")
            answer = json.loads(line)
            self._free.append(self._busy.popleft())
            self._done.append(EpochResult(**answer))
            block = False

    def ready(self) -> list[EpochResult]:
        self._collect(block=False)
        return super().ready()

    def wait_all(self) -> list[EpochResult]:
        """Every submitted result, waiting for those still running."""
        while self._busy:
            self._collect(block=True)
        return super().ready()

    def close(self) -> list[EpochResult]:
        """Stop the worker now and free the shared memory; returns results already in."""
        try:
            done = self.ready()
        except RuntimeError:  # the worker had stopped: keep what came before
            done = super().ready()
        self._requests.put(None)
        self._proc.kill()
        self._proc.wait()
        self._sender.join()  # it no longer touches the shared memory
        self.memory.close(unlink=True)
        return done


def make_evaluator(net, data: dict[str, np.ndarray], background: bool) -> InlineEvaluator:
    """A ``BackgroundEvaluator`` if ``background`` and the data fits in shared memory (a
    full /dev/shm would crash the copy), else an ``InlineEvaluator``."""
    if not background:
        return InlineEvaluator(net, data)
    needed = sum(data[key].nbytes for key in DATA_KEYS)
    if needed > 0.9 * free_bytes():
        log.warning(
            "epochs evaluated inline: the data needs %.0f MB of shared memory, /dev/shm has "
            "%.0f MB free", needed / 1e6, free_bytes() / 1e6,
        )  # fmt: skip
        return InlineEvaluator(net, data)
    return BackgroundEvaluator(net, data)


def background_by_default(in_sweep: bool, gradient: str, blas_threads: int) -> bool:
    """What ``train.background_eval: null`` means: on only when a core is idle, i.e. for a
    single run (a sweep has a job on every core), analytic (the numerical gradient uses every
    core), whose BLAS leaves a core free."""
    return not in_sweep and gradient == "analytic" and blas_threads < (os.cpu_count() or 1)


def current_blas_threads() -> int:
    """The BLAS thread count in force in this process (as ``threadpoolctl`` set it)."""
    from threadpoolctl import threadpool_info

    counts = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
    return min(counts, default=1)


def serve(lines, answers) -> None:
    """The worker: the first line is the spec, then one evaluation request per line."""
    from threadpoolctl import threadpool_limits

    spec = json.loads(lines.readline())
    memory = SharedArrays.attach(spec["memory"])
    quiet = np.errstate(over="ignore", invalid="ignore", divide="ignore")  # as in training
    with threadpool_limits(limits=spec["blas_threads"]), quiet:
        for line in lines:
            answer = _evaluate(json.loads(line), memory.arrays, spec)
            answers.write(json.dumps(answer) + "\n")
            answers.flush()
    memory.close(unlink=False)


def _evaluate(request: dict, shared: dict[str, np.ndarray], spec: dict) -> dict:
    """Both accuracies of the parameters in ``request``'s slot; the request plus them."""
    slot = request.pop("slot")
    params = {key: shared[f"{slot}/{key}"] for key in spec["param_keys"]}
    net = SimpleNamespace(params=params, activation=spec["activation"])
    train_acc, test_acc = epoch_accuracies(net, shared)
    return {**request, "train_acc": train_acc, "test_acc": test_acc}


if __name__ == "__main__":
    serve(sys.stdin, sys.stdout)
