"""Command line: fit the MMM to one dataset in the ``python -m simulate`` CSV format.

    python -m estimators.fit data=PATH/data.csv [lift_tests=PATH/lift_tests.csv] \\
        [calibration=none|m1|m2] [inference=nuts|fast] seed=0 out=DIR

Writes ``DIR/posterior_summary.csv`` (``channel, roi_mean, roi_sd, roi_q05,
roi_q50, roi_q95, share_mean, lag_days``), ``DIR/diagnostics.json``,
``DIR/response_curves.csv``, the resolved ``config.yaml`` and ``manifest.json``.
Malformed input exits with status 2 and one line naming file, row and field.
Config: ``conf/fit.yaml`` and its groups (``inference``, ``calibration``, ``model``, ``priors``).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from harness.errors import ConfigError


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

    from estimators.decisions.analysis import response_curves
    from estimators.inference.posterior import diagnostics_dict, fit, summary_frame
    from estimators.model.batch import build_batch
    from estimators.model.data import read_data_csv, read_lift_tests_csv
    from estimators.model.spec import fit_spec_from_config
    from harness.cli import job_out
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
    out = job_out(c["out"])
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


if __name__ == "__main__":
    from harness.cli import main

    main("fit", run, done=lambda out: print(f"wrote {out}/posterior_summary.csv", file=sys.stderr))
