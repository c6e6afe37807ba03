"""Hydra entry points with one-line errors.

``main(config_name, run)`` composes the config first with Hydra's compose API so that a
missing config group option (an unknown profile, say) is reported as one line; then it hands
over to ``@hydra.main`` so that overrides, ``--config-dir`` and ``--multirun`` work as usual.
Inside, ``run(cfg)`` raising :class:`harness.errors.ConfigError` or
:class:`harness.errors.InputError` becomes one line on stderr and exit status 2.

Multirun: Hydra writes nothing into the working directory. The sweep's ``multirun.yaml`` goes
to ``out=DIR`` when given (else ``results/multirun/<app>/<time>``), and :func:`job_out` gives
each job its own folder, ``DIR/<override string>``. Jobs run one after another (Hydra's basic
launcher) unless ``hydra/launcher=parallel`` (``hydra_plugins/mmm_launcher``) runs them at once,
each in its own process; ``jobs.engine=dask`` picks that launcher by itself.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")

ROOT = Path(CONF_DIR).parent
# Keep Hydra from writing outputs/ folders and log files: every app writes its own.
HYDRA_QUIET = ["hydra.run.dir=.", "hydra.output_subdir=null", "hydra/job_logging=disabled",
               "hydra/hydra_logging=disabled", "hydra.sweep.subdir=."]
EXCLUDED = ("out", "jobs", "figures", "max_new_shards")    # never part of a job folder's name


def _key(override: str) -> str:
    """The key of a command-line override (``~a.b``, ``+a.b=1``, ``++a.b=1`` -> ``a.b``)."""
    return override.split("=", 1)[0].lstrip("~+")


def _is_sweep(override: str) -> bool:
    """Whether an override sweeps: a comma outside brackets, or range/choice/glob/interval."""
    if "=" not in override:
        return False
    value = override.split("=", 1)[1]
    if any(value.startswith(f) for f in ("range(", "choice(", "glob(", "interval(")):
        return True
    depth = 0
    for ch in value:
        depth += ch in "[({"
        depth -= ch in "])}"
        if ch == "," and depth == 0:
            return True
    return False


def _is_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def job_out(out):
    """The output folder of this job: ``out`` itself, or in a multirun ``out/<override string>``
    (the job number when the job has no overrides of its own). ``None`` stays ``None``."""
    if out is None or not _is_multirun():
        return None if out is None else Path(str(out))
    from hydra.core.hydra_config import HydraConfig

    job = HydraConfig.get().job
    name = job.override_dirname or f"job{job.num}"
    return Path(str(out)) / name.replace("/", "_")


def _sweep_dir(app: str, argv) -> str:
    """Where a multirun's multirun.yaml goes: ``out=`` when given, else results/multirun/<app>/<time>."""
    import datetime as _dt

    for a in argv:
        if a.startswith("out="):
            v = a.split("=", 1)[1]
            return str(Path(v).parent) if Path(v).suffix in (".csv", ".parquet") else v   # out= a file
    stamp = _dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    return str(ROOT / "results" / "multirun" / app / stamp)


def _fail(msg: str, code: int = 2):
    print("error: " + " ".join(str(msg).split()), file=sys.stderr)
    sys.exit(code)


def _module_name() -> str:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return spec.name.removesuffix(".__main__") if spec and spec.name else Path(sys.argv[0]).name


def _split_argv(argv):
    """Separate Hydra flags (config dir / name, multirun) from overrides."""
    config_dirs, overrides, i = [], [], 0
    flags = []
    while i < len(argv):
        a = argv[i]
        if a in ("--config-dir", "-cd", "--config-path", "-cp", "--config-name", "-cn"):
            if i + 1 >= len(argv):
                _fail(f"{a} needs a value")
            if a in ("--config-dir", "-cd"):
                config_dirs.append(argv[i + 1])
            flags += [a, argv[i + 1]]
            i += 2
            continue
        if a.startswith("--config-dir="):
            config_dirs.append(a.split("=", 1)[1])
            flags.append(a)
        elif a.startswith("-"):
            flags.append(a)
        else:
            overrides.append(a)
        i += 1
    return config_dirs, overrides, flags


def preflight(config_name: str, argv) -> None:
    """Compose once to turn Hydra's multi-line config errors into one line."""
    import yaml
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    config_dirs, overrides, flags = _split_argv(argv)
    if any(f in ("-m", "--multirun", "--help", "-h", "--hydra-help", "--info", "-i", "-c", "--cfg")
           or f.startswith("--info") for f in flags):
        return
    for d in config_dirs:
        if not Path(d).is_dir():
            _fail(f"--config-dir: no such directory {d!r}")
    extra = [f"hydra.searchpath=[{','.join('file://' + str(Path(d).resolve()) for d in config_dirs)}]"] \
        if config_dirs else []
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
            compose(config_name=config_name, overrides=overrides + extra)
    except (HydraException, OmegaConfBaseException) as exc:
        line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        _fail(line)
    except yaml.YAMLError as exc:
        from harness.validate.profiles import yaml_error_line

        _fail(yaml_error_line(exc))
    finally:
        GlobalHydra.instance().clear()


def main(config_name: str, run: Callable, done: Callable | None = None) -> None:
    """Run ``run(cfg)`` as a Hydra app named by ``config_name`` (a file in ``conf/``).

    ``done(result)`` is called after a successful run (e.g. to print where the output went).
    """
    import hydra
    from omegaconf import DictConfig

    from harness.errors import ConfigError, FitError, InputError

    from harness.jaxcache import enable_cache

    os.environ.setdefault("HYDRA_FULL_ERROR", "0")
    argv = sys.argv[1:]
    # The command as the user typed it, for manifests (Hydra's own overrides are appended below).
    os.environ["MMM_COMMAND"] = " ".join(["python -m " + _module_name()] + argv)
    from harness.help import maybe_print_help

    maybe_print_help(config_name, argv)
    preflight(config_name, argv)
    enable_cache()

    @hydra.main(config_path=CONF_DIR, config_name=config_name, version_base=None)
    def _app(cfg: DictConfig):
        try:
            result = run(cfg)
        except (ConfigError, InputError) as exc:
            _fail(str(exc))
        except FitError as exc:
            _fail(str(exc), 3)
        if done is not None:
            done(result)
        return result

    _, overrides, flags = _split_argv(argv)
    extra = [o for o in HYDRA_QUIET if o.split("=")[0] not in " ".join(argv)]
    if any(f in ("-m", "--multirun") for f in flags):
        if not any(a.startswith("hydra.sweep.dir=") for a in argv):
            extra.append(f"hydra.sweep.dir={_sweep_dir(config_name, argv)}")
        # A job's folder is named by the overrides that vary across the sweep only.
        fixed = sorted(set(EXCLUDED) | {_key(o) for o in overrides if not _is_sweep(o)})
        extra = [o for o in extra if not o.startswith("hydra.job.config.override_dirname.exclude_keys=")]
        extra.append(f"hydra.job.config.override_dirname.exclude_keys=[{','.join(fixed)}]")
        # On Dask the jobs are light drivers (their shards run on the cluster): run them at once.
        if "jobs.engine=dask" in overrides and not any(_key(o) == "hydra/launcher" for o in overrides):
            extra.append("hydra/launcher=parallel")
    sys.argv = [sys.argv[0]] + argv + extra
    _app()
