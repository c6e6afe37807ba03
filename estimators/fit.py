"""Command line: fit the MMM to one dataset in the ``python -m simulate`` CSV format.

    python -m estimators.fit data=PATH/data.csv [lift_tests=PATH/lift_tests.csv] \\
        [calibration=none|m1|m2] [inference=nuts|fast] seed=0 out=DIR

Writes ``DIR/posterior_summary.csv`` (``channel, roi_mean, roi_sd, roi_q05,
roi_q50, roi_q95, share_mean, lag_days``, then what the data identify:
:data:`estimators.decisions.identification.IDENT_COLUMNS`), ``DIR/diagnostics.json``,
``DIR/response_curves.csv``, ``DIR/prior_posterior.png`` (prior against posterior ROI and
mROI per channel), the resolved ``config.yaml`` and ``manifest.json``.
Malformed input exits with status 2 and one line naming file, row and field.
Config: ``conf/fit.yaml`` and its groups (``inference``, ``calibration``, ``model``, ``priors``,
``identification``).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from harness.errors import ConfigError


# A MAP whose gradient norm (unconstrained space) is above this did not converge: a warning.
# Converged fits sit near 1e-2; the example was 5e4.
MAP_GRAD_WARN = 1.0


def _config(cfg) -> dict:
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import MissingMandatoryValue

    if isinstance(cfg, DictConfig):
        for name in ("data", "out"):
            if OmegaConf.is_missing(cfg, name):
                raise ConfigError(name, f"required, e.g. {name}=PATH")
        try:
            return OmegaConf.to_container(cfg, resolve=True)
        except MissingMandatoryValue as e:
            raise ConfigError(str(e.full_key), "required") from None
    return dict(cfg)


def _flag(c: dict, name: str) -> bool:
    v = c.get(name, False)
    if not isinstance(v, bool):
        raise ConfigError(name, f"must be true or false, got {v!r}")
    return v


def run(cfg) -> Path:
    """Fit one dataset and write the outputs; returns the output folder.

    The output folder is checked for writability before any input is read or any fit runs.

    Args:
        cfg: the composed config (DictConfig or plain mapping) of ``conf/fit.yaml``.
    Raises:
        ConfigError, InputError: one-line user errors (exit 2); FitError: a fit without a usable
            posterior (exit 3).
    """
    import jax

    from estimators.decisions.analysis import response_curves
    from estimators.decisions.identification import (IdentificationSpec, identification_frame, identify_fits,
                                                     prior_key)
    from estimators.inference.posterior import diagnostics_dict, fit_with_draws, summary_frame
    from estimators.model.batch import build_batch
    from estimators.model.data import read_data_csv, read_lift_tests_csv
    from estimators.model.spec import fit_spec_from_config
    from harness.cli import job_out
    from harness.errors import FitError
    from harness.manifest import atomic_write_text, write_run_files
    from harness.progress import Progress
    from harness.validate import warn, warnings_issued
    from harness.validate.paths import ensure_writable_dir
    from harness.validate.warn import reset

    reset()
    c = _config(cfg)
    spec = fit_spec_from_config(c)
    try:
        seed = int(c.get("seed", 0))
        holdout = int(c.get("holdout_weeks", 0))
        ci_level = float(c.get("ci_level", 0.95))
    except (TypeError, ValueError) as e:
        raise ConfigError("seed/holdout_weeks/ci_level", str(e)) from None
    if not 0 < ci_level < 1:
        raise ConfigError("ci_level", "must be in (0, 1)")
    save_draws, allow_short = _flag(c, "save_draws"), _flag(c, "allow_short_window")
    ident_spec = IdentificationSpec.from_config(c.get("identification"))
    out = ensure_writable_dir(job_out(c["out"]), "out")
    obs = read_data_csv(str(c["data"]), holdout_weeks=holdout)
    tests = []
    if c.get("lift_tests"):
        tests = read_lift_tests_csv(str(c["lift_tests"]), obs, ci_level=ci_level,
                                    allow_short_window=allow_short)
    if spec.calibration.method != "none" and not tests:
        raise ConfigError("lift_tests", f"calibration={spec.calibration.method} needs lift_tests=PATH "
                          "with at least one test")
    batch = build_batch([obs], [tests], spec)
    if spec.inference.method == "nuts":
        # One dataset: count NUTS iterations per chain (warm-up + draws, up to the cap), chunk by chunk.
        from estimators.inference.nuts import warmup_iterations

        cap = warmup_iterations(spec) + spec.inference.draws
        bar = Progress(cap, "fit (nuts, per chain, warm-up + draws up to the cap)", unit="iter",
                       first=f"chunk of {spec.inference.chunk}")

        def tick(n_done, step=None):
            if step is not None:
                bar.retotal(step[1])
                bar.to(step[0])
    else:
        bar = Progress(1, f"fit ({spec.inference.method})", unit="fit")
        tick = lambda n_done, step=None: bar.to(n_done)
    with bar:
        post, draws = fit_with_draws(jax.random.key(seed), batch, spec, progress=tick)
    table = summary_frame(post, 0)
    values = table.drop(columns=["channel"]).to_numpy(float)
    if not np.all(np.isfinite(values)):
        bad = table.loc[~np.isfinite(values).all(1), "channel"].tolist()
        raise FitError(f"fit produced non-finite posterior summaries for channel(s) {', '.join(bad)} "
                       f"(MAP gradient norm {float(post.diagnostics.map_grad_norm[0]):.3g}); nothing written")
    gnorm = float(post.diagnostics.map_grad_norm[0])
    if not gnorm <= MAP_GRAD_WARN:
        warn(f"MAP did not converge (gradient norm {gnorm:.3g} > {MAP_GRAD_WARN:g}); the Laplace "
             "start and the fast path are unreliable for this dataset")
    ident = identify_fits(prior_key(jax.random.key(seed)), post, batch, spec, ident_spec)
    table = pd.concat([table, identification_frame(ident, 0, len(obs.channel_names))], axis=1)
    atomic_write_text(out / "posterior_summary.csv", table.to_csv(index=False, float_format="%.6g"))
    from estimators.report.identification_figure import prior_posterior
    from harness.manifest import atomic_write_with

    fig = prior_posterior({"posterior": table}, ident_spec.max_sd_ratio)
    atomic_write_with(out / "prior_posterior.png", lambda tmp: fig.savefig(tmp, format="png", dpi=130))
    diag = diagnostics_dict(post, 0)
    diag["n_tests_used"] = len(tests) if spec.calibration.method != "none" else 0
    diag["warnings"] = warnings_issued()
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
    if save_draws:
        from estimators.inference.export import inference_data
        from harness.manifest import atomic_write_with

        idata = inference_data(post, draws, 0)
        atomic_write_with(out / "posterior.nc", lambda tmp: idata.to_netcdf(str(tmp), engine="h5netcdf"))
    write_run_files(out, c, seed, extra={"n_channels": k, "n_weeks": int(obs.kpi.shape[0]),
                                         "n_tests": len(tests), "dataset_id": obs.dataset_id,
                                         "warnings": warnings_issued()})
    return out


if __name__ == "__main__":
    from harness.cli import main
    from harness.programs import enable

    enable()                  # keep traced programs between runs (harness/programs.py)
    main("fit", run, done=lambda out: print(f"wrote {out}/posterior_summary.csv", file=sys.stderr))
