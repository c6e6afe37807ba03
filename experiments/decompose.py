"""``python -m experiments.decompose run=DIR [out=DIR]``: the measured decompositions the README quotes.

Two tables from a finished study run (its ``eqs.parquet`` and ``fits.parquet``), no refitting:

* ``iroas_decomposition.csv``: each test's read of its channel's ROI, ``iROAS / ROI - 1``, split
  into the **estimand mismatch** (the noise-free readout's iROAS over the test's window against the
  channel's average ROI: ``true_lift / (spend_delta x weeks) / ROI - 1``) and the **readout noise**
  (``(lift - true_lift) / (spend_delta x weeks) / ROI``); the two add up to the read's error. Per
  design (good, bad): quartiles of each part and their shares of the read's variance
  (``var(part) / var(total)``; the rest is twice their covariance).
* ``roi_error_by_test_cv.csv``: per channel and calibrated arm, the channel's absolute relative ROI
  error against the same channel's uncalibrated error, binned by the combined coefficient of
  variation of the iROAS reads the arm used on that channel (precision-weighted, the combination M1
  feeds its prior with), and the 90% interval's coverage of the true ROI in each bin.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from harness.manifest import atomic_write_text

CV_BINS = (0.0, 0.25, 0.5, 1.0, np.inf)


def iroas_decomposition(eqs: pd.DataFrame) -> pd.DataFrame:
    """Rows per design (``good``, ``bad``): quartiles and variance shares of the two parts."""
    t = eqs.drop_duplicates("test_id")
    denom = t["lift"] / t["iroas"]                                     # spend_delta x weeks
    total = t["iroas"] / t["true_roi"] - 1.0
    mismatch = t["true_lift"] / denom / t["true_roi"] - 1.0
    noise = (t["lift"] - t["true_lift"]) / denom / t["true_roi"]
    rows = []
    for bad, name in ((False, "good"), (True, "bad")):
        m = (t["bad_design"] == bad).to_numpy() & np.isfinite(total.to_numpy())
        if not m.any():
            continue
        row = {"design": name, "tests": int(m.sum())}
        for part, x in (("total", total[m]), ("mismatch", mismatch[m]), ("noise", noise[m])):
            q = np.quantile(x, [0.25, 0.5, 0.75])
            row.update({f"{part}_q25": q[0], f"{part}_median": q[1], f"{part}_q75": q[2]})
        var = float(np.var(total[m]))
        row["mismatch_var_share"] = float(np.var(mismatch[m])) / var
        row["noise_var_share"] = float(np.var(noise[m])) / var
        rows.append(row)
    return pd.DataFrame(rows)


def _channel_rows(fits: pd.DataFrame) -> pd.DataFrame:
    """One row per fit and channel: ROI estimate, interval, truth."""
    rows = []
    for f in fits.itertuples():
        for c, (hat, lo, hi, tru) in enumerate(zip(f.roi_hat, f.roi_q05, f.roi_q95, f.roi_true)):
            rows.append({"dataset_id": f.dataset_id, "arm": f.arm, "scenario": f.scenario, "c": c,
                         "err": abs(hat - tru) / tru, "covered": bool(lo <= tru <= hi)})
    return pd.DataFrame(rows)


def _channel_names(fits: pd.DataFrame) -> pd.Series:
    """Each dataset's channel names: the ``channels`` column, or (runs from before it) its world profile's."""
    first = fits.drop_duplicates("dataset_id").set_index("dataset_id")
    if "channels" in first.columns:
        return first["channels"].map(list)
    from experiments.study import load_world

    names = {w: [c["name"] for c in load_world(w)["media"]["channels"]] for w in first["world"].unique()}
    return first["world"].map(names)


def roi_error_by_test_cv(fits: pd.DataFrame, eqs: pd.DataFrame, bins=CV_BINS) -> pd.DataFrame:
    """Per calibrated arm and bin of the combined test CV: median channel ROI error before and after."""
    ch = _channel_rows(fits)
    base = ch[ch["arm"] == "none"].set_index(["dataset_id", "c"])
    out = []
    order = _channel_names(fits)
    for arm in [a for a in fits["arm"].unique() if a != "none"]:
        scen = fits.loc[fits["arm"] == arm, "scenario"].iloc[0]
        label = arm.split("/", 1)[1].replace("/", "_")
        col = f"used_{label}"
        if col not in eqs.columns:
            continue
        used = eqs[(eqs["scenario"] == scen) & (eqs[col] == True)]             # noqa: E712
        if used.empty:
            continue
        se_iroas = used["lift_se"] / (used["lift"] / used["iroas"]).abs()
        w = 1.0 / se_iroas**2
        grp = used.assign(w=w, wx=w * used["iroas"]).groupby(["dataset_id", "channel"])
        comb = pd.DataFrame({"mean": grp["wx"].sum() / grp["w"].sum(), "se": grp["w"].sum() ** -0.5})
        comb["cv"] = comb["se"] / comb["mean"].abs()
        a = ch[ch["arm"] == arm].set_index(["dataset_id", "c"])
        rows = []
        for (ds, chan), r in comb.iterrows():
            c = order[ds].index(chan)
            if (ds, c) not in a.index or (ds, c) not in base.index:
                continue
            rows.append({"cv": r["cv"], "err_none": base.loc[(ds, c), "err"], "err_arm": a.loc[(ds, c), "err"],
                         "cov_none": base.loc[(ds, c), "covered"], "cov_arm": a.loc[(ds, c), "covered"]})
        d = pd.DataFrame(rows)
        if d.empty:
            continue
        d["bin"] = pd.cut(d["cv"], list(bins), right=False, labels=[f"[{lo:g}, {hi:g})" for lo, hi in
                                                                      zip(bins[:-1], bins[1:])])
        for b, g in d.groupby("bin", observed=True):
            out.append({"arm": arm, "cv_bin": str(b), "channels": len(g), "share": len(g) / len(d),
                        "err_none_median": g["err_none"].median(), "err_arm_median": g["err_arm"].median(),
                        "coverage_none": g["cov_none"].mean(), "coverage_arm": g["cov_arm"].mean()})
    return pd.DataFrame(out)


def main(argv) -> int:
    args = dict(a.split("=", 1) for a in argv if "=" in a)
    if "run" not in args or len(args) != len(argv) or set(args) - {"run", "out"}:
        print("usage: python -m experiments.decompose run=DIR [out=DIR]", file=sys.stderr)
        return 2
    run = Path(args["run"])
    missing = [f for f in ("fits.parquet", "eqs.parquet") if not (run / f).exists()]
    if missing:
        print(f"error: {run}: missing {', '.join(missing)} (expected a finished study run folder)", file=sys.stderr)
        return 2
    eqs = pd.read_parquet(run / "eqs.parquet")
    fits = pd.read_parquet(run / "fits.parquet")
    need = ({"lift", "true_lift", "iroas", "true_roi", "lift_se"} - set(eqs.columns))
    if need:
        print(f"error: {run}: its tables lack {', '.join(sorted(need))} (a run from before these columns)",
              file=sys.stderr)
        return 2
    out = Path(args.get("out", run))
    out.mkdir(parents=True, exist_ok=True)
    dec = iroas_decomposition(eqs)
    cv = roi_error_by_test_cv(fits, eqs)
    atomic_write_text(out / "iroas_decomposition.csv", dec.to_csv(index=False))
    atomic_write_text(out / "roi_error_by_test_cv.csv", cv.to_csv(index=False))
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(dec.round(3).to_string(index=False))
        print(cv.round(3).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
