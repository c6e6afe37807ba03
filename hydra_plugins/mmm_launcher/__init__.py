"""``hydra/launcher=parallel``: a multirun's jobs run at the same time, each in its own process.

Hydra's basic launcher runs a sweep's jobs one after another. This launcher starts up to
``hydra.launcher.n_jobs`` jobs at once, each in a local worker process (joblib's loky backend,
which pickles the app's task function with cloudpickle) with its own Hydra state, so every job
gets its own ``HydraConfig`` and folder exactly as under the basic launcher. Jobs are light drivers
when ``jobs.engine=dask``: they plan, collect and aggregate while their shards run on the Dask
cluster, so a sweep keeps the whole cluster busy even when each job has few shards; the harness
picks this launcher by itself for ``-m ... jobs.engine=dask`` (:func:`harness.cli.main`).

A job that fails (an app's one-line error and exit status) does not stop the others; the sweep
ends with the first non-zero exit status of its jobs, in job order. Job processes end themselves
when the sweep's process dies (:func:`experiments.faults.start_parent_watch`).

Why processes, not threads: Hydra keeps the running job's config in a process-wide singleton
(``HydraConfig``), which jobs in threads of one process would overwrite for each other.
"""
# No ``from __future__ import annotations``: Hydra executes plugin modules outside sys.modules,
# where a dataclass cannot resolve string annotations.
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence, Tuple

from omegaconf import DictConfig, open_dict

from hydra.core.config_store import ConfigStore
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction


@dataclass
class ParallelLauncherConf:
    _target_: str = "hydra_plugins.mmm_launcher.ParallelLauncher"
    n_jobs: int = 4          # jobs running at once (each a process); -1: all of them


ConfigStore.instance().store(group="hydra/launcher", name="parallel", node=ParallelLauncherConf,
                             provider="mmm")


def _run_one(hydra_context: HydraContext, task_function: TaskFunction, sweep_config: DictConfig,
             singleton_state: Any, parent_pid: int) -> Tuple[Optional[JobReturn], int]:
    """In a worker process: run one job with the sweep's Hydra state; returns ``(JobReturn, exit code)``
    (``(None, code)`` when the app exited with a status)."""
    from experiments.faults import start_parent_watch

    start_parent_watch(parent_pid)
    setup_globals()
    Singleton.set_state(singleton_state)
    try:
        ret = run_job(hydra_context=hydra_context, task_function=task_function, config=sweep_config,
                      job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")
    except SystemExit as exc:           # the app's one-line error (harness.cli._fail) already printed
        code = exc.code if isinstance(exc.code, int) else 1
        return None, code
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return ret, 0


class ParallelLauncher(Launcher):
    def __init__(self, n_jobs: int = 4) -> None:
        super().__init__()
        self.n_jobs = int(n_jobs)
        self.config: Optional[DictConfig] = None
        self.task_function: Optional[TaskFunction] = None
        self.hydra_context: Optional[HydraContext] = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from joblib import Parallel, delayed

        setup_globals()
        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        configs = []
        for i, overrides in enumerate(job_overrides):
            sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            with open_dict(sweep_config):
                sweep_config.hydra.job.id = sweep_config.hydra.job.num = initial_job_idx + i
            configs.append(sweep_config)
        n = len(configs) if self.n_jobs == -1 else max(1, min(self.n_jobs, len(configs)))
        print(f"multirun: {len(configs)} job(s), {n} at a time (hydra/launcher=parallel): "
              + "; ".join(f"#{c.hydra.job.num} {' '.join(filter_overrides(o))}"
                          for c, o in zip(configs, job_overrides)), file=sys.stderr, flush=True)
        state = Singleton.get_state()
        results = Parallel(n_jobs=n, backend="loky")(
            delayed(_run_one)(self.hydra_context, self.task_function, c, state, os.getpid()) for c in configs)
        codes = [code for _, code in results if code]
        if codes:
            sys.exit(codes[0])
        runs = [ret for ret, _ in results]
        for r in runs:
            if r.status == JobStatus.FAILED:
                raise r._return_value        # as the basic launcher's caller would see it
        return runs
