"""Fit PyMC-Marketing's MMM with its defaults on one simulated dataset; write ROI, timings, diagnostics.

The PyMC-Marketing side of the side-by-side benchmark. Runs in its own virtualenv
(``.venv-pymc``, pinned by ``benchmarks/requirements-pymc.txt``) and imports nothing from the
project: only the standard library, numpy, pandas, pymc_marketing, pymc and arviz (plus pytensor
and nutpie, to read the compile cache's location and to time nutpie's compile and sampling).

    .venv-pymc/bin/python benchmarks/pymc_mmm.py --data DIR/<dataset_id> --out RESULT.json \
        [--chains 4] [--tune 1000] [--draws 1000] [--seed 0] [--max-lag 13] [--sampler default]

Input: ``DIR/<dataset_id>/data.csv`` as written by ``python -m simulate`` (columns ``date``,
``kpi``, ``spend_<channel>``..., ``control_<name>``...). All weeks are used for fitting. Only
``channels`` (their order) is read from ``truth.json``, if present; nothing else of the truth.

Model: ``pymc_marketing.mmm.MMM`` with date column ``date``, target ``kpi``, the spend columns as
channels, ``GeometricAdstock(l_max=max_lag)``, ``LogisticSaturation()``, ``yearly_seasonality=3``
and as controls the data's ``control_*`` columns plus a linear trend ``t`` (0..1 over the weeks).
Everything else is PyMC-Marketing's default: priors, max-abs scaling of target and channels,
identity link, Normal likelihood, and the sampler ``fit()`` picks. With ``--sampler default``
nothing is passed, so ``pm.sample`` chooses: in PyMC 6.x that is nutpie (numba backend) whenever
nutpie is installed and the default PyTensor linker is numba, else PyMC's own NUTS. Its other
defaults stand too (``cores=min(4, cpu count)``, nutpie's own target accept and adaptation).
``--sampler nutpie|pymc|numpyro|blackjax`` forces ``nuts_sampler``; the default is the point.

Timings (``seconds`` in the output, wall clock, ``time.perf_counter``):

- ``build``: ``MMM(...)`` construction plus ``mmm.build_model(X, y)`` (PyMC graph construction),
  plus the sampler's own model compilation when it can be told apart: for nutpie, the
  ``nutpie.compile_pymc_model`` call that ``fit()`` makes (PyTensor rewrite + numba compile of
  the log density and gradient). It is measured by a transparent timing wrapper around that
  function, so ``fit()`` runs unchanged. ``build_model_only`` and ``compile`` give the two parts.
- ``sample``: the ``mmm.fit(...)`` call's wall time less the compile counted in ``build``, so
  that ``build`` and ``sample`` do not overlap: warm-up and draws of all chains plus
  PyMC-Marketing's vectorised recompute of the deterministics after sampling. ``fit`` is the
  whole ``fit()`` call (compile included), ``sample_nuts`` the ``nutpie.sample`` call alone
  (warm-up + draws, all chains), ``fit_other`` the rest of ``fit()`` (dims freezing, the
  deterministics' recompute, which compiles a function of its own, DataTree merging). With the
  PyMC sampler the compile cannot be told apart: it stays inside ``sample`` and ``compile`` is null.
- The compile time depends on PyTensor's on-disk numba cache (``<base_compiledir>/numba``,
  ``~/.pytensor/numba`` by default): on the first run in a fresh cache it was ~30 s for this
  model, ~8 s once warm. ``compile_cache`` in the output records the cache's file count before
  the run (``warm`` = non-empty; a warm cache may still hold other models' functions). For a
  cold measurement point ``PYTENSOR_FLAGS=base_compiledir=<fresh dir>`` at an empty folder.
- ``total``: from reading ``data.csv`` to the ROI summary and diagnostics being done (the
  JSON write excluded).

ROI per channel per posterior draw = sum over all weeks of the channel's contribution in original
KPI units / sum over all weeks of its spend. The contribution in original units comes from
``mmm.data.get_channel_contributions(original_scale=True)`` (``channel_contribution`` times
``target_scale``, identity link). The script checks that channels + baseline + controls +
seasonality reproduce the model mean ``mu`` in original units and reports the fitted mean's
relative error against the observed KPI under ``check``.

Diagnostics: ``divergences`` summed over chains (post-warm-up); ``max_rhat`` and ``min_ess_bulk``
over every element of every free parameter (in the posterior's constrained space, as ArviZ sees
it); ``ess_bulk_roi_min`` the smallest bulk ESS and ``rhat_roi_max`` the largest rank-normalised R-hat of the per-channel ROI draws.

Errors in the input (missing folder, file or columns) print one line on stderr and exit 2.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

T_START = time.perf_counter()


class InputError(Exception):
    """A problem with the input folder: reported in one line, exit code 2."""


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="dataset folder DIR/<dataset_id> holding data.csv")
    p.add_argument("--out", required=True, help="result JSON path (written atomically)")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-lag", type=int, default=13, help="GeometricAdstock l_max")
    p.add_argument("--sampler", default="default",
                   choices=["default", "nutpie", "pymc", "numpyro", "blackjax"],
                   help="'default' passes nothing and lets fit()/pm.sample choose")
    a = p.parse_args(argv)
    for name in ("chains", "tune", "draws", "max_lag"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    return a


def load_data(folder: Path):
    """Read data.csv (and only ``channels`` from truth.json); return (df, channels, controls)."""
    import pandas as pd

    if not folder.is_dir():
        raise InputError(f"no such dataset folder: {folder}")
    csv = folder / "data.csv"
    if not csv.is_file():
        raise InputError(f"no data.csv in {folder}")
    try:
        df = pd.read_csv(csv)
    except Exception as e:  # noqa: BLE001 - any parse failure is an input error
        raise InputError(f"cannot read {csv}: {type(e).__name__}: {e}") from None
    missing = [c for c in ("date", "kpi") if c not in df.columns]
    if missing:
        raise InputError(f"{csv} lacks column(s): {', '.join(missing)}")
    spend_cols = [c for c in df.columns if c.startswith("spend_")]
    channels = [c[len("spend_"):] for c in spend_cols]
    truth_path = folder / "truth.json"
    if truth_path.is_file():
        try:
            truth_channels = json.loads(truth_path.read_text()).get("channels")
        except (json.JSONDecodeError, OSError) as e:
            raise InputError(f"cannot read {truth_path}: {e}") from None
        if truth_channels:
            absent = [f"spend_{c}" for c in truth_channels if f"spend_{c}" not in df.columns]
            if absent:
                raise InputError(f"{csv} lacks column(s) named in truth.json: {', '.join(absent)}")
            channels = list(truth_channels)
    if not channels:
        raise InputError(f"{csv} has no spend_<channel> columns")
    controls = [c for c in df.columns if c.startswith("control_")]
    try:
        df["date"] = pd.to_datetime(df["date"])
    except (ValueError, TypeError) as e:
        raise InputError(f"{csv}: unparseable date column: {e}") from None
    cols = ["kpi"] + [f"spend_{c}" for c in channels] + controls
    if df[cols].isna().any().any() or len(df) < 2:
        raise InputError(f"{csv} has missing values or fewer than two rows")
    df = df.sort_values("date").reset_index(drop=True)
    return df, channels, controls


class _Timed:
    """Transparent wrapper that adds each call's wall time to ``self.seconds``."""

    def __init__(self, fn):
        self.fn, self.seconds, self.calls = fn, 0.0, 0

    def __call__(self, *args, **kwargs):
        t = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t
            self.calls += 1


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for key, dist in (("pymc_marketing", "pymc-marketing"), ("pymc", "pymc"), ("pytensor", "pytensor"),
                      ("nutpie", "nutpie"), ("numpy", "numpy"), ("arviz", "arviz")):
        try:
            out[key] = version(dist)
        except PackageNotFoundError:
            out[key] = None
    out["python"] = platform.python_version()
    return out


def _atomic_write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(a: argparse.Namespace) -> dict:
    folder = Path(a.data)
    df, channels, controls = load_data(folder)

    import numpy as np
    import pandas as pd
    import pytensor

    # PyTensor keeps numba-compiled functions on disk; a warm cache makes the compile much shorter.
    cache_dir = Path(pytensor.config.base_compiledir) / "numba"
    cache_files_before = sum(1 for p in cache_dir.rglob("*") if p.is_file()) if cache_dir.is_dir() else 0

    import arviz as az
    from pymc_marketing.mmm import GeometricAdstock, LogisticSaturation
    from pymc_marketing.mmm.mmm import MMM

    n = len(df)
    X = pd.DataFrame({"date": df["date"]})
    for c in channels:
        X[f"spend_{c}"] = df[f"spend_{c}"].astype(float)
    for c in controls:
        X[c] = df[c].astype(float)
    X["t"] = np.arange(n, dtype=float) / (n - 1)
    y = df["kpi"].astype(float).rename("kpi")
    channel_cols = [f"spend_{c}" for c in channels]

    # Time the sampler's compile apart from its sampling, without changing what fit() does.
    timers = {}
    try:
        import nutpie

        for name in ("compile_pymc_model", "sample"):
            timers[name] = _Timed(getattr(nutpie, name))
            setattr(nutpie, name, timers[name])
    except ImportError:
        pass

    t0 = time.perf_counter()
    mmm = MMM(
        date_column="date",
        target_column="kpi",
        channel_columns=channel_cols,
        control_columns=[*controls, "t"],
        adstock=GeometricAdstock(l_max=a.max_lag),
        saturation=LogisticSaturation(),
        yearly_seasonality=3,
    )
    mmm.build_model(X, y)
    t_build = time.perf_counter() - t0

    fit_kwargs = {"chains": a.chains, "tune": a.tune, "draws": a.draws, "random_seed": a.seed}
    if a.sampler != "default":
        fit_kwargs["nuts_sampler"] = a.sampler
    t0 = time.perf_counter()
    idata = mmm.fit(X, y, progressbar=False, **fit_kwargs)
    t_fit = time.perf_counter() - t0

    used_nutpie = "sample" in timers and timers["sample"].calls > 0
    sampler = "nutpie" if used_nutpie else (a.sampler if a.sampler != "default" else "pymc")
    t_compile = timers["compile_pymc_model"].seconds if used_nutpie else None
    t_nuts = timers["sample"].seconds if used_nutpie else None

    # ROI in original KPI units.
    contrib = mmm.data.get_contributions(original_scale=True)
    ch = contrib["channels"]  # (chain, draw, date, channel), original KPI units
    ch = ch.assign_coords(channel=[c[len("spend_"):] for c in ch["channel"].values])
    ch = ch.sel(channel=channels)
    spend = X[channel_cols].to_numpy().sum(axis=0)
    roi = (ch.sum("date").transpose("chain", "draw", "channel") / spend).rename("roi")
    roi_ess = az.ess(roi.to_dataset(), method="bulk")["roi"]
    roi_rhat = az.rhat(roi.to_dataset())["roi"]       # rank-normalised split R-hat (bulk and tail)

    roi_out = {}
    for c in channels:
        d = roi.sel(channel=c).values.ravel()
        roi_out[c] = {"mean": float(d.mean()), "sd": float(d.std(ddof=1)),
                      "q05": float(np.quantile(d, 0.05)), "q95": float(np.quantile(d, 0.95)),
                      "ess_bulk": float(roi_ess.sel(channel=c)), "rhat": float(roi_rhat.sel(channel=c))}

    # Check: the contributions add up to mu in original units, and mu tracks the KPI.
    post = idata["posterior"]
    mu_orig = mmm.data.to_original_scale("mu")
    parts = ch.sum("channel")
    for name in ("baseline", "controls", "seasonality"):
        if name in contrib:
            v = contrib[name]
            extra = [d for d in v.dims if d not in ("chain", "draw", "date")]
            parts = parts + (v.sum(extra) if extra else v)
    decomp_err = float(abs(parts - mu_orig).max() / abs(mu_orig).max())
    mu_mean = mu_orig.mean(("chain", "draw")).values
    fit_rel_err = float(np.sqrt(np.mean((mu_mean - y.to_numpy()) ** 2)) / y.mean())
    spend_model = mmm.data.get_channel_spend().sum("date").values
    spend_err = float(np.max(np.abs(spend_model - spend) / spend))

    # Diagnostics over the free parameters.
    free = [rv.name for rv in mmm.model.free_RVs if rv.name in post]
    free_ds = post.to_dataset()[free]
    rhat = az.rhat(free_ds)
    ess = az.ess(free_ds, method="bulk")
    max_rhat = max(float(np.nanmax(rhat[v].values)) for v in free)
    min_ess = min(float(np.nanmin(ess[v].values)) for v in free)
    div = int(np.asarray(idata["sample_stats"]["diverging"].values).sum())

    t_total = time.perf_counter() - T_START
    return {
        "dataset_id": folder.name,
        "channels": channels,
        "chains": a.chains, "tune": a.tune, "draws": a.draws, "seed": a.seed, "max_lag": a.max_lag,
        "sampler": sampler,
        "n_weeks": n,
        "controls": [*controls, "t"],
        "versions": _versions(),
        "seconds": {
            "build": round(t_build + (t_compile or 0.0), 3),
            "sample": round(t_fit - (t_compile or 0.0), 3),
            "total": round(t_total, 3),
            "fit": round(t_fit, 3),
            "build_model_only": round(t_build, 3),
            "compile": None if t_compile is None else round(t_compile, 3),
            "sample_nuts": None if t_nuts is None else round(t_nuts, 3),
            "fit_other": None if t_nuts is None else round(t_fit - t_nuts - t_compile, 3),
        },
        "compile_cache": {"numba_cache_dir": str(cache_dir), "files_before": cache_files_before,
                          "warm": cache_files_before > 0},
        "roi": roi_out,
        "diagnostics": {
            "divergences": div,
            "max_rhat": max_rhat,
            "min_ess_bulk": min_ess,
            "ess_bulk_roi_min": min(r["ess_bulk"] for r in roi_out.values()),
            "rhat_roi_max": max(r["rhat"] for r in roi_out.values()),
            "free_parameters": free,
        },
        "check": {
            "decomposition_max_rel_err": decomp_err,
            "fit_rmse_over_mean_kpi": fit_rel_err,
            "spend_max_rel_err": spend_err,
        },
    }


def main(argv=None) -> int:
    a = parse_args(argv)
    try:
        result = run(a)
    except InputError as e:
        print(f"pymc_mmm: {e}", file=sys.stderr)
        return 2
    _atomic_write_json(Path(a.out), result)
    s, d = result["seconds"], result["diagnostics"]
    print(f"pymc_mmm: {result['dataset_id']} sampler={result['sampler']} build={s['build']}s "
          f"sample={s['sample']}s (compile {s['compile']}s, fit {s['fit']}s) total={s['total']}s divergences={d['divergences']} "
          f"max_rhat={d['max_rhat']:.3f} min_ess_bulk={d['min_ess_bulk']:.0f} -> {a.out}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
