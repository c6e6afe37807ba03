"""Hydra entry points with one-line errors.

``main(app_name, config_name, run)`` composes the config first with Hydra's
compose API so that a missing config group option (an unknown profile, say) is
reported as one line; then it hands over to ``@hydra.main`` so that overrides,
``--config-dir`` and ``--multirun`` work as usual. Inside, ``run(cfg)`` raising
:class:`harness.errors.ConfigError` or :class:`harness.errors.InputError`
becomes one line on stderr and exit status 2.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")

# Keep Hydra from writing outputs/ folders and log files: every app writes its own.
HYDRA_QUIET = ["hydra.run.dir=.", "hydra.output_subdir=null", "hydra/job_logging=disabled",
               "hydra/hydra_logging=disabled", "hydra.sweep.dir=.", "hydra.sweep.subdir=."]


def _fail(msg: str, code: int = 2):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(code)


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
    finally:
        GlobalHydra.instance().clear()


def main(config_name: str, run: Callable) -> None:
    """Run ``run(cfg)`` as a Hydra app named by ``config_name`` (a file in ``conf/``)."""
    import hydra
    from omegaconf import DictConfig

    from harness.errors import ConfigError, InputError

    from harness.jaxcache import enable_cache

    os.environ.setdefault("HYDRA_FULL_ERROR", "0")
    argv = sys.argv[1:]
    preflight(config_name, argv)
    enable_cache()

    @hydra.main(config_path=CONF_DIR, config_name=config_name, version_base=None)
    def _app(cfg: DictConfig):
        try:
            return run(cfg)
        except (ConfigError, InputError) as exc:
            _fail(str(exc))

    sys.argv = [sys.argv[0]] + argv + [o for o in HYDRA_QUIET if o.split("=")[0] not in " ".join(argv)]
    _app()
