"""Compute engines: one ``map`` interface over a local process pool or Parsl.

``executor.map(fn, items, timeout_s=...)`` yields ``(item, result)`` or
``(item, exception)`` in completion order; a task that fails or runs past
its timeout yields its exception (:class:`TaskTimeout`) instead of stopping
the map. ``fn`` must be a module-level function (it is pickled to workers).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import shutil
import signal
import sys
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from thermodefect.core.errors import UserInputError


class TaskTimeout(TimeoutError):
    """A task ran longer than its per-task timeout and was stopped."""


class Executor(ABC):
    """Runs ``fn(item)`` for many items; see the module docstring."""

    @abstractmethod
    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], timeout_s: float | None = None) -> Iterator[tuple[Any, Any]]:
        ...

    def close(self) -> None:
        """Release workers (idempotent)."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Alarm:
    """SIGALRM-based timeout for in-process tasks (main thread only; Python-level)."""

    def __init__(self, timeout_s: float | None):
        import threading

        self.active = bool(timeout_s) and threading.current_thread() is threading.main_thread()
        self.timeout_s = timeout_s

    def _raise(self, signum, frame):
        raise TaskTimeout(f"task exceeded its timeout of {self.timeout_s:g} s")

    def __enter__(self):
        if self.active:
            self._old = signal.signal(signal.SIGALRM, self._raise)
            signal.setitimer(signal.ITIMER_REAL, self.timeout_s)
        return self

    def __exit__(self, *exc):
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._old)


def _call_with_alarm(fn: Callable, item: Any, timeout_s: float | None) -> Any:
    with _Alarm(timeout_s):
        return fn(item)


def _one_thread_per_worker() -> None:
    """Workers share the cores: one OpenMP/torch thread each, idle threads sleep."""
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


class LocalExecutor(Executor):
    """A process pool of ``workers`` processes; ``workers=1`` runs in this process.

    Timeouts: each task gets a SIGALRM inside its worker (stops Python code);
    a task stuck in C code past ``timeout_s`` plus a grace period has its
    pool killed and restarted, the other running tasks are resubmitted.
    """

    GRACE_S = 5.0

    def __init__(self, workers: int = 1):
        if workers < 1:
            raise UserInputError(f"compute.workers must be >= 1, got {workers}")
        self.workers = workers
        self._pool: cf.ProcessPoolExecutor | None = None

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        # forkserver: no fork of a process that already runs threads (tqdm, torch).
        return cf.ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context("forkserver"), initializer=_one_thread_per_worker
        )

    def map(self, fn, items, timeout_s=None):
        items = list(items)
        if self.workers == 1:
            for item in items:
                try:
                    yield item, _call_with_alarm(fn, item, timeout_s)
                except Exception as exc:  # every failure is reported, none stops the map
                    yield item, exc
            return
        yield from self._map_pool(fn, items, timeout_s)

    def _map_pool(self, fn, items, timeout_s):
        pending = list(range(len(items)))[::-1]
        running: dict[cf.Future, tuple[int, float]] = {}
        if self._pool is None:
            self._pool = self._new_pool()
        while pending or running:
            while pending and len(running) < self.workers:
                index = pending.pop()
                running[self._pool.submit(_call_with_alarm, fn, items[index], timeout_s)] = (index, time.monotonic())
            wait_s = None
            if timeout_s:
                oldest = min(start for _, start in running.values())
                wait_s = max(0.0, oldest + timeout_s + self.GRACE_S - time.monotonic())
            done, _ = cf.wait(running, timeout=wait_s, return_when=cf.FIRST_COMPLETED)
            for future in done:
                index, _ = running.pop(future)
                try:
                    yield items[index], future.result()
                except Exception as exc:
                    yield items[index], exc
            if not done and timeout_s:
                now = time.monotonic()
                stuck = [f for f, (_, start) in running.items() if now - start > timeout_s + self.GRACE_S]
                for future in stuck:
                    index, _ = running.pop(future)
                    yield items[index], TaskTimeout(f"task exceeded its timeout of {timeout_s:g} s (worker killed)")
                for future, (index, _) in running.items():
                    pending.append(index)  # lost with the pool; rerun
                running.clear()
                self._kill_pool()

    def _kill_pool(self) -> None:
        if self._pool is None:
            return
        kill = getattr(self._pool, "kill_workers", None)
        if kill is not None:  # Python >= 3.14
            kill()
        else:
            for process in list(getattr(self._pool, "_processes", {}).values()):
                process.kill()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def member_processes(n_members: int, workers: int) -> int:
    """Processes that train ``n_members`` independent ensemble members on ``workers`` cores.

    All at once while there are at most two per core: 3 members on 2 cores
    then take 1.5 member-times instead of 2 (the third would train alone on
    one core, the other idle). Beyond that, one process per core.
    """
    if n_members < 1 or workers < 1:
        return 1
    return n_members if n_members <= 2 * workers else workers


def _put_parsl_scripts_on_path() -> None:
    """Parsl starts ``interchange.py`` and ``process_worker_pool.py`` by name.

    They live beside the interpreter (``.venv/bin``), which is not on ``PATH`` when the
    package runs as ``.venv/bin/thermodefect`` without an activated environment.
    """
    scripts = Path(sys.executable).parent
    if shutil.which("interchange.py") is None and (scripts / "interchange.py").exists():
        os.environ["PATH"] = os.pathsep.join([str(scripts), os.environ.get("PATH", "")])


def parsl_config(parsl_settings, workers: int, run_dir: str | Path | None = None):
    """A Parsl ``Config`` with one HighThroughputExecutor for ``compute.parsl``."""
    from parsl.config import Config
    from parsl.executors import HighThroughputExecutor
    from parsl.providers import LocalProvider, PBSProProvider, SlurmProvider

    _put_parsl_scripts_on_path()

    common = {
        "nodes_per_block": parsl_settings.nodes_per_block,
        "init_blocks": 1,
        "max_blocks": parsl_settings.max_blocks,
        "worker_init": parsl_settings.worker_init,
    }
    if parsl_settings.provider == "local":
        provider = LocalProvider(init_blocks=1, max_blocks=1, worker_init=parsl_settings.worker_init)
        address = "127.0.0.1"
    elif parsl_settings.provider == "slurm":
        from parsl.launchers import SrunLauncher

        provider = SlurmProvider(
            partition=parsl_settings.partition,
            account=parsl_settings.account,
            walltime=parsl_settings.walltime,
            launcher=SrunLauncher(),
            **common,
        )
        address = None
    else:
        provider = PBSProProvider(account=parsl_settings.account, queue=parsl_settings.partition, walltime=parsl_settings.walltime, **common)
        address = None
    htex_kwargs = {"label": "thermodefect", "provider": provider, "max_workers_per_node": workers}
    if address is not None:
        htex_kwargs["address"] = address
    else:
        from parsl.addresses import address_by_hostname

        htex_kwargs["address"] = address_by_hostname()
    return Config(executors=[HighThroughputExecutor(**htex_kwargs)], run_dir=str(run_dir or "runinfo"), strategy="simple")


class ParslExecutor(Executor):
    """Parsl HighThroughputExecutor: local processes, or Slurm/PBS Pro blocks on a cluster."""

    def __init__(self, parsl_settings, workers: int = 1, run_dir: str | Path | None = None):
        import parsl

        self._parsl = parsl
        self._dfk = parsl.load(parsl_config(parsl_settings, workers, run_dir))
        self._app = parsl.python_app(_call_with_alarm, executors=["thermodefect"])

    def map(self, fn, items, timeout_s=None):
        items = list(items)
        futures = {self._app(fn, item, timeout_s): item for item in items}
        for future in cf.as_completed(futures):
            try:
                yield futures[future], future.result()
            except Exception as exc:
                yield futures[future], exc

    def close(self) -> None:
        if self._dfk is not None:
            self._dfk.cleanup()
            self._parsl.clear()
            self._dfk = None


def get_executor(compute_settings, run_dir: str | Path | None = None) -> Executor:
    """The executor a :class:`thermodefect.settings.ComputeSettings` asks for."""
    if compute_settings.engine == "parsl":
        return ParslExecutor(compute_settings.parsl, compute_settings.workers, run_dir)
    return LocalExecutor(compute_settings.workers)
