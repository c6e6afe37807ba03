"""Run an app's ``run(cfg)`` in-process the way ``harness.cli.main`` does, and report what a user
would see: the exit status (0, 2 for a refusal, 3 for a failed fit, ``"traceback"`` for any
other exception) and the stderr lines."""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from harness.errors import ConfigError, FitError, InputError

ROOT = Path(__file__).resolve().parents[2]
APPS = {"fit": ("fit", "estimators.fit"), "score": ("score", "estimators.score"),
        "simulate": ("simulate", "simulate.app"), "study": ("study", "experiments.study")}


def invoke(app: str, overrides, config_dir=None):
    """Returns ``(status, stderr_lines, result)``."""
    import importlib

    config_name, module = APPS[app]
    run = importlib.import_module(module).run
    err = io.StringIO()
    status, result = 0, None
    extra = [f"hydra.searchpath=[file://{Path(config_dir).resolve()}]"] if config_dir else []
    GlobalHydra.instance().clear()
    with contextlib.redirect_stderr(err):
        try:
            with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
                cfg = compose(config_name=config_name, overrides=list(overrides) + extra,
                              return_hydra_config=True)
                HydraConfig.instance().set_config(cfg)
                with __import__("omegaconf").open_dict(cfg):
                    del cfg["hydra"]
                result = run(cfg)
        except (ConfigError, InputError) as e:
            print("error: " + " ".join(str(e).split()), file=err)
            status = 2
        except FitError as e:
            print("error: " + " ".join(str(e).split()), file=err)
            status = 3
        except (HydraException, OmegaConfBaseException) as e:     # what harness.cli.preflight reports
            print("error: " + (str(e).strip().splitlines() or [type(e).__name__])[0], file=err)
            status = 2
        except yaml.YAMLError as e:
            from harness.validate.profiles import yaml_error_line

            print("error: " + yaml_error_line(e), file=err)
            status = 2
        except Exception as e:  # noqa: BLE001 - the suite fails on this: a user would see a traceback
            print(f"TRACEBACK {type(e).__name__}: {e}", file=err)
            status = "traceback"
        finally:
            GlobalHydra.instance().clear()
    return status, [l for l in err.getvalue().splitlines() if l.strip()], result
