"""Where independent tasks run: in this process, in local worker processes, or on Dask.

``run_tasks(fn, tasks, engine)`` calls ``fn(*args)`` for every ``args`` in ``tasks`` and yields
the results as they finish (in any order). The engine is data (:class:`Engine`), read from the
``jobs`` setting of an app:

* ``jobs=N`` or ``jobs=auto`` (or ``jobs.workers=N``): ``engine=local``, N worker processes
  (joblib's loky backend); one worker runs the tasks in this process.
* ``jobs.engine=dask jobs.scheduler=tcp://HOST:8786``: a ``distributed.Client`` on a running
  Dask scheduler; every task is one Dask task (``pure=False``), results stream back with
  ``as_completed``. The workers import this project, so start them with it on ``PYTHONPATH``
  and with the same shared folders (see the README).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from harness.errors import ConfigError

ENGINES = ("local", "dask")


@dataclass(frozen=True)
class Engine:
    """``kind``: ``local`` or ``dask``; ``workers``: local worker processes (``auto`` resolved by
    the app); ``scheduler``: the Dask scheduler address."""

    kind: str = "local"
    workers: Any = "auto"
    scheduler: str | None = None


def engine_from(value, field: str = "jobs") -> Engine:
    """Parse the ``jobs`` setting: a number, ``auto``, or a mapping with ``workers``, ``engine``
    and ``scheduler``."""
    if isinstance(value, dict):
        unknown = set(value) - {"workers", "engine", "scheduler"}
        if unknown:
            raise ConfigError(f"{field}.{sorted(unknown)[0]}", "unknown key; use workers, engine, scheduler")
        kind = value.get("engine") or "local"
        if kind not in ENGINES:
            raise ConfigError(f"{field}.engine", f"must be one of {', '.join(ENGINES)}, got {kind!r}")
        scheduler = value.get("scheduler")
        if kind == "dask" and not scheduler:
            raise ConfigError(f"{field}.scheduler", "required with jobs.engine=dask, e.g. "
                                                    "jobs.scheduler=tcp://HOST:8786")
        return Engine(kind, value.get("workers", "auto"), None if scheduler is None else str(scheduler))
    return Engine("local", value, None)


def run_tasks(fn: Callable, tasks: Iterable[tuple], engine: Engine, n_workers: int = 1) -> Iterator:
    """Yield ``fn(*args)`` for every ``args`` in ``tasks``, as they finish.

    Args:
        fn: a module-level function (it is pickled for worker processes).
        tasks: argument tuples.
        engine: where to run.
        n_workers: local worker processes (``engine.kind == "local"``).
    """
    tasks = list(tasks)
    if engine.kind == "dask":
        yield from _dask(fn, tasks, engine.scheduler)
    elif n_workers <= 1:
        for args in tasks:
            yield fn(*args)
    else:
        from joblib import Parallel, delayed

        yield from Parallel(n_jobs=n_workers, backend="loky", return_as="generator_unordered")(
            delayed(fn)(*args) for args in tasks)


def _dask(fn: Callable, tasks: list, scheduler: str) -> Iterator:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ConfigError("jobs.engine", "dask needs the 'distributed' package (pip install "
                                         "'dask[distributed]')") from None
    try:
        client = Client(scheduler, timeout="20s", set_as_default=False)
    except (OSError, TimeoutError) as e:
        raise ConfigError("jobs.scheduler", f"no Dask scheduler reachable at {scheduler} ({e})") from None
    try:
        with client.as_current():
            futures = [client.submit(fn, *args, pure=False) for args in tasks]
            for fut in as_completed(futures):
                yield fut.result()
    finally:
        client.close()
