"""``RayExecutor``: the runs of a sweep as Ray tasks, on this machine or on a Ray cluster.

Ray is an optional dependency (``pip install 'featvslearn[ray]'``): it is imported when a
:class:`RayExecutor` is made, never when this module is imported.

- Connecting: the ``address`` given (``--ray-address``), else ``RAY_ADDRESS``, else a local Ray
  started with this machine's CPUs and GPUs. A Ray already initialised in this process is used as
  it is and left running on :meth:`RayExecutor.close`.
- The shared object (the loaded dataset and settings) is put in Ray's object store once; every task
  gets the same reference.
- Each task asks for ``cpus_per_run`` CPUs (default: all of the largest node's, or for GPU runs the
  node's CPUs in proportion to the GPUs the run asks for) and, when it trains
  on a GPU, ``gpus_per_run`` GPUs (0.25 lets four runs share one GPU). The run sets torch's thread
  count to the CPUs it was given, so its results match a local run with that many threads.
- A run that fails is retried once; if it fails again it is yielded as a :class:`RunFailure` while
  the others go on. Results are yielded in the order runs finish.
- Closing the generator early (the consumer stops, or Ctrl-C) cancels every run still outstanding.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import time
from collections.abc import Iterable, Iterator
from typing import Any

from featvslearn.errors import UserError
from featvslearn.executors import Outcome, Resources, RunFailure, S, Task, Work

INSTALL_HINT = "--executor ray needs Ray: pip install 'featvslearn[ray]'"
ADDRESS_ENV = "RAY_ADDRESS"
CONNECT_TIMEOUT_S = 5.0
"""How long to wait for a cluster address to answer before saying it cannot be reached."""
RETRIES = 1
"""How many times a failed run is tried again before it is reported as a :class:`RunFailure`."""


def _run_task(work: Work[S], task: Task, shared: S, threads: int) -> Any:
    """What each Ray task runs: ``work(task, shared)`` with torch using ``threads`` threads."""
    import torch

    torch.set_num_threads(threads)
    return work(task, shared)


def check_resources(resources: Resources) -> None:
    """Raise ``UserError`` unless ``resources`` can be asked of Ray.

    ``cpus_per_run`` must be above 0 when given; ``gpus_per_run`` must be above 0, and a whole
    number when above 1 (Ray shares a GPU between runs, never splits runs over GPUs).
    """
    cpus, gpus = resources.cpus_per_run, resources.gpus_per_run
    if cpus is not None and not (0 < cpus < math.inf):
        raise UserError(f"--cpus-per-run must be more than 0; got {cpus}")
    if not (0 < gpus < math.inf) or (gpus > 1 and not float(gpus).is_integer()):
        raise UserError(
            f"--gpus-per-run must be a fraction of one GPU (such as 0.25) or a whole number of GPUs; got {gpus}"
        )


def failure_text(error: BaseException) -> str:
    """One line saying why a Ray task failed: the run's own exception when Ray has it."""
    import ray.exceptions

    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if isinstance(error, ray.exceptions.RayTaskError):
        if error.cause is not None:
            message = " ".join(str(error.cause).split())
            name = type(error.cause).__name__
            return f"{name}: {message}" if message else name
        # Without the cause, the message is a traceback whose last line names the exception.
        return lines[-1] if lines else type(error).__name__
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def _endpoint(address: str) -> tuple[str, int] | None:
    """The host and port of a ``host:port`` or ``ray://host:port`` address; None for ``auto`` and the like."""
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    if not colon or not host or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def _unreachable(address: str) -> str | None:
    """Why nothing answers at ``address`` (a TCP connection within :data:`CONNECT_TIMEOUT_S`), or None.

    Ray itself keeps retrying an unreachable cluster for minutes; this says so in seconds.
    """
    endpoint = _endpoint(address)
    if endpoint is None:
        return None
    try:
        with socket.create_connection(endpoint, timeout=CONNECT_TIMEOUT_S):
            return None
    except OSError as error:
        return " ".join(str(error).split()) or type(error).__name__


def _local_gpus() -> int:
    """How many CUDA GPUs torch sees on this machine (0 without torch or CUDA)."""
    try:
        import torch

        return int(torch.cuda.device_count())
    except Exception:
        return 0


class RayExecutor:
    """Runs each task as a Ray task and yields ``(task, record or RunFailure)`` as runs finish.

    ``address`` is the cluster to join (``--ray-address``); None means ``RAY_ADDRESS``, else a local
    Ray started with this machine's CPUs and GPUs. ``startup_seconds`` is how long connecting or
    starting Ray took (0 when a Ray already running in this process was used).
    """

    name = "ray"

    def __init__(self, resources: Resources | None = None, address: str | None = None) -> None:
        resources = resources or Resources()
        check_resources(resources)
        try:
            import ray
        except ImportError:
            raise UserError(INSTALL_HINT) from None
        self._ray = ray
        self.resources = resources
        self._outstanding: dict[Any, Task] = {}
        self._owns_ray = False
        self._remote: Any = None
        self.address = address or os.environ.get(ADDRESS_ENV) or None
        self.startup_seconds = 0.0
        if ray.is_initialized():
            return
        gpus = 0 if self.address else _local_gpus()  # before the clock: torch may not be imported yet
        start = time.perf_counter()
        quiet: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": "WARNING",
            "ignore_reinit_error": True,
        }
        if not self.address:
            ray.init(address="local", num_cpus=os.cpu_count() or 1, num_gpus=gpus, **quiet)
        else:
            reason = _unreachable(self.address)
            if reason is None:
                try:
                    ray.init(address=self.address, **quiet)
                except Exception as error:
                    reason = " ".join(str(error).split())[:200] or type(error).__name__
            if reason is not None:
                raise UserError(
                    f"--executor ray: cannot reach the Ray cluster at {self.address!r} ({reason}); "
                    f"check --ray-address or {ADDRESS_ENV}, or leave both unset to start Ray on this machine"
                )
        self._owns_ray = True
        self.startup_seconds = time.perf_counter() - start

    def _largest_node(self, resource: str) -> float:
        """The most of ``resource`` ("CPU", "GPU") any live node of the cluster has."""
        amounts = [node.get("Resources", {}).get(resource, 0.0) for node in self._ray.nodes() if node.get("Alive")]
        return max(amounts, default=0.0)

    def _task_resources(self, tasks: list[Task]) -> tuple[float, float]:
        """CPUs per run and GPUs per GPU run; ``UserError`` when no node could run a GPU task."""
        node_cpus = self._largest_node("CPU")
        cpus = self.resources.cpus_per_run or node_cpus
        cpus = min(cpus, node_cpus) if node_cpus > 0 else cpus
        gpus = self.resources.gpus_per_run
        if any(task.uses_gpu for task in tasks):
            node_gpus = self._largest_node("GPU")
            if node_gpus <= 0:
                raise UserError(
                    "--executor ray: no GPU in the Ray cluster; use --device cpu, "
                    "or join a cluster with GPUs (--ray-address)"
                )
            if gpus > node_gpus:
                raise UserError(
                    f"--gpus-per-run {gpus:g} is more than any Ray node has ({node_gpus:g}); "
                    f"use --gpus-per-run {node_gpus:g} or less"
                )
            if self.resources.cpus_per_run is None and node_cpus > 0:
                # runs sharing a node's GPUs share its CPUs in the same proportion: with 16 CPUs, one GPU
                # and --gpus-per-run 0.25, four runs of 4 CPUs each fit at once
                cpus = max(1.0, float(int(node_cpus * gpus / node_gpus)))
        return cpus, gpus

    def run(self, work: Work[S], tasks: Iterable[Task], shared: S) -> Iterator[Outcome]:
        """Submit every task (with ``shared`` put in the object store once) and yield each outcome
        as its run finishes.

        Raises ``UserError`` at once, before anything is submitted, when a task needs a GPU the
        cluster does not have. Nothing is submitted until the first outcome is asked for.
        """
        planned = list(tasks)
        cpus, gpus = self._task_resources(planned)
        return self._outcomes(work, planned, shared, cpus, gpus)

    def _outcomes(self, work: Work[S], tasks: list[Task], shared: S, cpus: float, gpus: float) -> Iterator[Outcome]:
        ray = self._ray
        if self._remote is None:
            self._remote = ray.remote(_run_task)
        threads = max(1, int(cpus))
        pending: dict[Any, Task] = {}
        try:
            if not tasks:
                return
            shared_ref = ray.put(shared)
            for task in tasks:
                ref = self._remote.options(
                    num_cpus=cpus,
                    num_gpus=gpus if task.uses_gpu else 0,
                    max_retries=RETRIES,
                    retry_exceptions=True,
                ).remote(work, task, shared_ref, threads)
                pending[ref] = task
                self._outstanding[ref] = task
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                ref = ready[0]
                task = pending.pop(ref)
                self._outstanding.pop(ref, None)
                try:
                    outcome: Any = ray.get(ref)
                except ray.exceptions.RayError as error:
                    outcome = RunFailure(task, failure_text(error))
                yield task, outcome
        finally:
            self._cancel(list(pending))

    def _cancel(self, refs: list[Any]) -> None:
        for ref in refs:
            self._outstanding.pop(ref, None)
            # A run that already finished, or a Ray going down, leaves nothing to stop.
            with contextlib.suppress(Exception):
                self._ray.cancel(ref, force=True)

    def close(self) -> None:
        """Cancel runs still outstanding, and shut Ray down if this executor started it."""
        if self._outstanding:
            self._cancel(list(self._outstanding))
        if self._owns_ray:
            self._owns_ray = False
            self._ray.shutdown()
