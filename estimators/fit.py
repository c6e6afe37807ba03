"""Command line: fit the MMM to one dataset in the ``python -m simulate`` CSV format.

    python -m estimators.fit data=PATH/data.csv [lift_tests=PATH/lift_tests.csv] \\
        [calibration=none|m1|m2] [inference=nuts|fast] seed=0 out=DIR

Writes ``DIR/posterior_summary.csv`` (``channel, roi_mean, roi_sd, roi_q05,
roi_q50, roi_q95, share_mean, lag_days``), ``DIR/diagnostics.json``,
``DIR/response_curves.csv``, the resolved ``config.yaml`` and ``manifest.json``.
Malformed input exits with status 2 and one line naming file, row and field.
Config: ``conf/estimator/fit.yaml`` and its groups.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from harness.errors import ConfigError, InputError

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf" / "estimator")


def run(cfg) -> Path:
    """Fit one dataset and write the outputs; returns the output folder.

    Args:
        cfg: the composed config (DictConfig or plain mapping) of ``conf/estimator/fit.yaml``.
    Raises:
        ConfigError, InputError: one-line user errors.
    """
    import jax
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import MissingMandatoryValue

    from estimators.batch import build_batch
    from estimators.data import read_data_csv, read_lift_tests_csv
    from estimators.posterior import diagnostics_dict, fit, response_curves, summary_frame
    from estimators.spec import fit_spec_from_config
    from harness.manifest import atomic_write_text, write_run_files

    if isinstance(cfg, DictConfig):
        for name in ("data", "out"):
            if OmegaConf.is_missing(cfg, name):
                raise ConfigError(name, f"required, e.g. {name}=PATH")
        try:
            c = OmegaConf.to_container(cfg, resolve=True)
        except MissingMandatoryValue as e:
            raise ConfigError(str(e.full_key), "required") from None
    else:
        c = dict(cfg)
    spec = fit_spec_from_config(c)
    try:
        seed = int(c.get("seed", 0))
        holdout = int(c.get("holdout_weeks", 0))
        ci_level = float(c.get("ci_level", 0.95))
    except (TypeError, ValueError) as e:
        raise ConfigError("seed/holdout_weeks/ci_level", str(e)) from None
    if not 0 < ci_level < 1:
        raise ConfigError("ci_level", "must be in (0, 1)")
    obs = read_data_csv(str(c["data"]), holdout_weeks=holdout)
    tests = []
    if c.get("lift_tests"):
        tests = read_lift_tests_csv(str(c["lift_tests"]), obs, ci_level=ci_level)
    if spec.calibration.method != "none" and not tests:
        raise ConfigError("lift_tests", f"calibration={spec.calibration.method} needs lift_tests=PATH "
                          "with at least one test")
    out = Path(str(c["out"]))
    batch = build_batch([obs], [tests], spec)
    post = fit(jax.random.key(seed), batch, spec)
    out.mkdir(parents=True, exist_ok=True)
    table = summary_frame(post, 0)
    atomic_write_text(out / "posterior_summary.csv", table.to_csv(index=False, float_format="%.6g"))
    diag = diagnostics_dict(post, 0)
    diag["n_tests_used"] = len(tests) if spec.calibration.method != "none" else 0
    atomic_write_text(out / "diagnostics.json", json.dumps(diag, indent=2))
    curves = response_curves(post, spec.curve_points, spec.curve_max)
    k = len(obs.channel_names)
    rows = []
    for j, name in enumerate(obs.channel_names):
        for p in range(curves["spend"].shape[1]):
            rows.append((name, curves["spend"][0, p, j], curves["mean"][0, p, j],
                         curves["q05"][0, p, j], curves["q95"][0, p, j]))
    cf = pd.DataFrame(rows, columns=["channel", "weekly_spend", "response_mean",
                                     "response_q05", "response_q95"])
    atomic_write_text(out / "response_curves.csv", cf.to_csv(index=False, float_format="%.6g"))
    write_run_files(out, c, seed, extra={"n_channels": k, "n_weeks": int(obs.kpi.shape[0]),
                                         "n_tests": len(tests)})
    return out


def main() -> None:
    """Thin Hydra wrapper: one-line errors, no ``outputs/`` folders, no log files."""
    import hydra
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from harness.cli import HYDRA_QUIET, _fail, _split_argv
    from harness.jaxcache import enable_cache

    os.environ.setdefault("HYDRA_FULL_ERROR", "0")
    argv = sys.argv[1:]
    _, overrides, flags = _split_argv(argv)
    if not any(f in ("-m", "--multirun", "--help", "-h", "--hydra-help", "-c", "--cfg") for f in flags):
        GlobalHydra.instance().clear()
        try:
            with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
                compose(config_name="fit", overrides=overrides)
        except (HydraException, OmegaConfBaseException) as exc:
            _fail(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        finally:
            GlobalHydra.instance().clear()
    enable_cache()

    @hydra.main(config_path=CONF_DIR, config_name="fit", version_base=None)
    def _app(cfg):
        try:
            out = run(cfg)
        except (ConfigError, InputError) as exc:
            _fail(str(exc))
        print(f"wrote {out}/posterior_summary.csv", file=sys.stderr)

    sys.argv = [sys.argv[0]] + argv + [o for o in HYDRA_QUIET if o.split("=")[0] not in " ".join(argv)]
    _app()


if __name__ == "__main__":
    main()
