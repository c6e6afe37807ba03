"""``make demo``: the practitioner's workflow on simulated data that looks like a user's own.

    python -m experiments.demo [--out results/demo] [--channels 6] [--tests 10] [--seed 4] \
        [-- calibrate overrides, e.g. inference=fast]

1. Draws a ``home_goods`` world with the simulator (a 7th channel, ``audio``, with ``--channels 7``),
   and its lift tests, half from the good design and half from the bad one (good and bad mixed).
2. Writes it under realistic column names (``week, revenue, <channel>_cost, promo_flag``), strips
   the truth, and degrades the readouts as real ones are: some give iROAS with a CI instead of a
   lift, some lack ``population_share``/``spend_baseline`` (M2 refuses them) and quality fields.
   The truth goes to a separate folder the estimator never reads.
3. Runs ``python -m estimators.calibrate`` on those files as a user would (a subprocess).
4. Prints how far the baseline and the calibrated model are from the truth (ROI error, attribution
   error, interval coverage): this step is the experiments room's, since it touches the truth.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
COST = "{}_cost"
AUDIO = {"name": "audio", "spend_share": 0.08, "spend_cv": [0.2, 0.4], "dark_prob": 0.1, "roi": [0.8, 2.5],
         "adstock": {"family": "geometric", "alpha": [0.2, 0.6]}, "half_saturation": [0.6, 1.8],
         "slope": [0.8, 1.8]}


def _lift_cfg(name: str) -> dict:
    cfg = yaml.safe_load((ROOT / "conf" / "lift" / f"{name}.yaml").read_text())
    if "defaults" in cfg:
        base = _lift_cfg("good")
        over = {k: v for k, v in cfg.items() if k != "defaults"}
        cfg = {**base, **over, "failure_modes": {**base["failure_modes"], **over.pop("failure_modes", {})}}
    return cfg


def make_world(out: Path, seed: int = 4, n_channels: int = 6, n_tests: int = 10, readout: str = "panel") -> dict:
    """Simulate, write the user's files (``out/user``) and the hidden truth (``out/truth``).

    Returns:
        paths: ``data``, ``tests``, ``truth`` and the calibrate column-map overrides.
    """
    import jax

    from simulate.config import world_spec
    from simulate.core import simulate, simulate_all_tests
    from simulate.lifttests import lift_spec

    wcfg = yaml.safe_load((ROOT / "conf" / "world" / "home_goods.yaml").read_text())
    if n_channels == 7:
        wcfg["media"]["channels"].append(AUDIO)
        total = sum(c["spend_share"] for c in wcfg["media"]["channels"])
        for c in wcfg["media"]["channels"]:
            c["spend_share"] = c["spend_share"] / total
    elif n_channels != 6:
        raise SystemExit("--channels must be 6 or 7")
    spec = world_spec(wcfg)
    key = jax.random.key(seed)
    ds, truth = simulate(key, spec, 1, 1)
    good = simulate_all_tests(key, ds, truth, spec, lift_spec(_lift_cfg("good")), 1, 1, readout)[0]
    bad = simulate_all_tests(key, ds, truth, spec, lift_spec(_lift_cfg("bad")), 1, 1, readout)[0]
    rng = np.random.default_rng(seed)
    # Test j runs on channel j mod K; designs alternate good / bad (shifted every round of channels).
    names = list(ds.channel_names)
    picks = []
    for j in range(n_tests):
        ch, rnd = names[j % len(names)], j // len(names)
        design = "good" if (j + rnd) % 2 == 0 else "bad"
        pool = [t for t in (good if design == "good" else bad)[0] if t.channel == ch]
        picks.append((pool[rnd % len(pool)], design))
    names = list(ds.channel_names)
    dates = ds.dates
    user, hid = out / "user", out / "truth"
    user.mkdir(parents=True, exist_ok=True)
    hid.mkdir(parents=True, exist_ok=True)
    data = pd.DataFrame({"week": dates.astype(str), "revenue": np.asarray(ds.kpi[0])})
    for k, n in enumerate(names):
        data[COST.format(n)] = np.asarray(ds.spend[0, :, k])
    for c, n in enumerate(ds.control_names):
        data[f"{n}_flag"] = np.asarray(ds.controls[0, :, c])
    data.to_csv(user / "sales.csv", index=False)
    rows = []
    for j, (t, design) in enumerate(picks):
        r = {"test_id": f"{t.channel}-{j:02d}", "channel": t.channel, "start_date": str(dates[t.start_week]),
             "end_date": str(dates[t.end_week]), "window_days": t.window_days, "spend_delta": t.spend_delta,
             "population_share": t.population_share, "spend_baseline": t.spend_baseline, "n_geos": t.n_geos,
             "leakage": "" if np.isnan(t.leakage) else t.leakage,
             "holdout_verified": "" if t.holdout_verified is None else str(t.holdout_verified).lower(),
             "spend_delivery_ok": "" if t.spend_delivery_ok is None else str(t.spend_delivery_ok).lower(),
             "sensitivity_sign_flip": "" if t.sensitivity_sign_flip is None else str(t.sensitivity_sign_flip).lower()}
        form = j % 3
        if form == 0:
            r.update(lift=t.lift, lift_se=t.lift_se)
        elif form == 1:
            r.update(lift=t.lift, ci_low=t.ci_low, ci_high=t.ci_high)
        else:
            d = t.spend_delta * t.weeks
            lo, hi = sorted((t.ci_low / d, t.ci_high / d))
            r.update(iroas=t.lift / d, iroas_ci_low=lo, iroas_ci_high=hi)
        if rng.random() < 0.2:                       # a readout without the M2 fields
            r.update(population_share="", spend_baseline="")
        if rng.random() < 0.2:                       # quality fields unknown
            r.update(leakage="", holdout_verified="", sensitivity_sign_flip="")
        rows.append((r, design))
    tests = pd.DataFrame([r for r, _ in rows])
    tests.to_csv(user / "readouts.csv", index=False)
    tj = {"channels": names, "roi": dict(zip(names, map(float, truth.roi[0]))),
          "contribution": dict(zip(names, map(float, np.asarray(truth.contributions[0]).sum(0)))),
          "optimal_allocation": dict(zip(names, map(float, truth.optimal_allocation[0]))),
          "test_design": {r["test_id"]: d for r, d in rows}}
    (hid / "truth.json").write_text(json.dumps(tj, indent=2))
    overrides = ["columns.date=week", "columns.kpi=revenue"] + \
        [f"columns.spend.{n}={COST.format(n)}" for n in names] + \
        [f"columns.controls.{n}={n}_flag" for n in ds.control_names]
    return {"data": user / "sales.csv", "tests": user / "readouts.csv", "truth": hid / "truth.json",
            "overrides": overrides}


def run_calibrate(paths: dict, out: Path, extra=(), env_extra=None) -> float:
    """``python -m estimators.calibrate`` on the user's files, as a user would; returns wall seconds."""
    cmd = [sys.executable, "-m", "estimators.calibrate", f"data={paths['data']}", f"lift_tests={paths['tests']}",
           f"out={out}", *paths["overrides"], *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), **(env_extra or {})}
    print("$ " + " ".join(cmd[1:3] + [c.replace(str(ROOT) + "/", "") for c in cmd[3:]]), flush=True)
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, env=env)
    if r.returncode:
        raise SystemExit(f"estimators.calibrate failed with status {r.returncode}")
    return time.perf_counter() - t


def against_truth(out: Path, truth_path: Path) -> pd.DataFrame:
    """Baseline vs calibrated distance from the truth (experiments side: reads the truth)."""
    truth = json.loads(truth_path.read_text())
    ch = pd.read_csv(out / "channels.csv").set_index("channel")
    roi = pd.Series(truth["roi"])[ch.index]
    contrib = pd.Series(truth["contribution"])[ch.index]
    share = contrib / contrib.sum()
    opt = pd.Series(truth["optimal_allocation"])[ch.index]
    rows = []
    for lab, tag in (("baseline", "before"), ("calibrated", "after")):
        m = ch[f"roi_mean_{tag}"]
        rows.append({"fit": lab, "roi_mape": float((abs(m - roi) / roi).mean()),
                     "coverage90": float(((ch[f"roi_q05_{tag}"] <= roi) & (roi <= ch[f"roi_q95_{tag}"])).mean()),
                     "attribution_error": float(0.5 * abs(ch[f"share_{tag}"] - share).sum()),
                     "allocation_error": float(0.5 * abs(ch[f"budget_{tag}"] - opt).sum() / opt.sum())})
    return pd.DataFrame(rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "results" / "demo"))
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--channels", type=int, default=6)
    ap.add_argument("--tests", type=int, default=10)
    ap.add_argument("overrides", nargs="*", help="estimators.calibrate overrides, e.g. inference=fast")
    a = ap.parse_args(argv)
    out = Path(a.out)
    t0 = time.perf_counter()
    print(f"demo: simulating a home_goods world (seed {a.seed}, {a.channels} channels, {a.tests} tests, "
          "good and bad designs mixed)", flush=True)
    paths = make_world(out / "input", a.seed, a.channels, a.tests)
    print(f"demo: wrote {paths['data']} and {paths['tests']} (the truth is in {paths['truth'].parent}, unread)",
          flush=True)
    secs = run_calibrate(paths, out / "report", a.overrides)
    table = against_truth(out / "report", paths["truth"])
    design = json.loads(paths["truth"].read_text())["test_design"]
    ts = pd.read_csv(out / "report" / "tests.csv")
    ts["design"] = ts["test_id"].map(design)
    print("\ndemo: EQS tier against the (hidden) design of each test:")
    print(pd.crosstab(ts["design"], ts["eqs_tier"]).to_string())
    print("\ndemo: distance from the truth (lower is better; coverage90 should be near 0.9):")
    print(table.round(3).to_string(index=False))
    table.to_csv(out / "against_truth.csv", index=False)
    print(f"\ndemo: calibrate took {secs:.0f}s; report: {out / 'report' / 'report.html'} "
          f"({time.perf_counter() - t0:.0f}s in all)")
    return table


if __name__ == "__main__":
    main()
