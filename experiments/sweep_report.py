"""``python -m experiments.sweep_report sweep=DIR [out=DIR]``: one table and its figures for a study multirun.

A Hydra multirun of the study (``python -m experiments.study -m key=a,b key2=c,d out=DIR``) puts each
job in its own folder ``DIR/<its overrides>``, a normal run folder with ``config.yaml``. This module

* finds the job folders (sub-folders of ``DIR`` holding ``config.yaml``); a job is *finished* when its
  ``manifest.json`` says ``status: complete`` and it has ``summary_long.csv``; unfinished jobs are listed
  on stderr and in the manifest, and skipped;
* derives the **swept keys** from the jobs' resolved configs, not from folder names: every dotted key
  whose value differs between jobs (unfinished jobs' configs count too, so that a sweep with one
  finished job still knows its keys; ``out``, ``jobs``, ``figures``, ``max_new_shards`` never count);
* writes ``sweep.csv``: one row per finished job and arm, with the columns ``job``, the swept keys
  (dotted names, e.g. ``scenarios.mixed.bad_share``), ``arm``, and per metric of ``summary_long.csv``
  every numeric summary column present, wide: ``roi_mape.n, roi_mape.median, roi_mape.q25, ...,
  roi_mape.ci_low, roi_mape.ci_high, ...`` (the paired improvement against no calibration, positive =
  better; coverage in points);
* draws, per swept factor, every metric against the factor's values with CI error bars, one line per
  arm and one panel column per combination of the other factors: ``figures/sweep_<key>.png|pdf``.
  Keys that vary together (a config group override changes several keys at once) form one factor,
  drawn once under its first key.

Outputs go to ``DIR`` unless ``out=``; ``config.yaml`` and ``manifest.json`` of this report are written
beside ``sweep.csv``. Bad input gives one line on stderr and exit status 2.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Mapping, NamedTuple

import pandas as pd

from harness.cli import EXCLUDED, _is_sweep
from harness.errors import ConfigError, InputError
from harness.manifest import atomic_write_text, write_run_files

ID_COLUMNS = ("arm", "metric")
_MISSING = "<absent>"          # a key present in some jobs' configs and not in others


class Job(NamedTuple):
    """One job folder of a sweep: its name, path, flattened resolved config and whether it finished."""
    name: str
    path: Path
    config: dict            # dotted key -> value (lists kept as lists)
    finished: bool
    status: str             # manifest status, or why it is unfinished


# ----------------------------------------------------------------------------------------------- reading

def flatten(cfg: Mapping[str, Any], prefix: str = "") -> dict:
    """``{"a": {"b": 1}, "c": [1, 2]}`` -> ``{"a.b": 1, "c": [1, 2]}`` (lists are leaves)."""
    out = {}
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _job_status(path: Path) -> tuple[bool, str]:
    manifest = path / "manifest.json"
    if not manifest.is_file():
        return False, "no manifest.json"
    try:
        status = json.loads(manifest.read_text()).get("status")
    except (OSError, json.JSONDecodeError):
        return False, "unreadable manifest.json"
    if status != "complete":
        return False, f"status {status!r}"
    if not (path / "summary_long.csv").is_file():
        return False, "no summary_long.csv"
    return True, "complete"


def read_jobs(sweep: Path) -> list[Job]:
    """The job folders of ``sweep`` (sub-folders with ``config.yaml``), sorted by name."""
    import yaml

    sweep = Path(sweep)
    if not sweep.is_dir():
        raise InputError(str(sweep), "no such directory")
    if (sweep / "fits.parquet").exists() or (sweep / "shards").is_dir():
        raise InputError(str(sweep), "a single study run, not a multirun folder (pass the sweep folder "
                                     "holding one sub-folder per job)")
    jobs = []
    for path in sorted(p for p in sweep.iterdir() if p.is_dir() and (p / "config.yaml").is_file()):
        try:
            cfg = yaml.safe_load((path / "config.yaml").read_text()) or {}
        except yaml.YAMLError as exc:
            raise InputError(str(path / "config.yaml"), f"not valid YAML ({type(exc).__name__})") from None
        if not isinstance(cfg, Mapping):
            raise InputError(str(path / "config.yaml"), "not a mapping")
        finished, status = _job_status(path)
        jobs.append(Job(path.name, path, flatten(cfg), finished, status))
    if not jobs and (sweep / "multirun.yaml").is_file():
        raise InputError(str(sweep), "multirun.yaml but no job folders: a multirun without out= writes its jobs "
                                     "to results/study/<study>/<config hash>/; rerun it with out=DIR")
    if not jobs:
        raise InputError(str(sweep), "no job folders (sub-folders with config.yaml); is this a multirun folder?")
    return jobs


def expected_jobs(sweep: Path) -> int | None:
    """Number of jobs the sweep's ``multirun.yaml`` asks for (product of the comma lists of its task
    overrides), or ``None`` when it is absent or uses range/choice/glob/interval sweeps."""
    import yaml

    path = Path(sweep) / "multirun.yaml"
    if not path.is_file():
        return None
    try:
        task = ((yaml.safe_load(path.read_text()) or {}).get("hydra", {}).get("overrides", {}).get("task")) or []
    except yaml.YAMLError:
        return None
    n = 1
    for o in task:
        if not _is_sweep(o):
            continue
        value = o.split("=", 1)[1]
        if any(value.startswith(f) for f in ("range(", "choice(", "glob(", "interval(")):
            return None
        depth, parts = 0, 1
        for ch in value:
            depth += ch in "[({"
            depth -= ch in "])}"
            parts += ch == "," and depth == 0
        n *= parts
    return n


# ------------------------------------------------------------------------------------------ computation

def _canon(v) -> str:
    return json.dumps(v, sort_keys=True, default=str)


def swept_keys(configs: list[dict]) -> list[str]:
    """Dotted keys whose values differ between the flattened configs ``configs`` (a key missing from
    some configs differs), in first-seen order; never ``out``, ``jobs``, ``figures``, ``max_new_shards``."""
    keys = list(dict.fromkeys(k for c in configs for k in c))
    excluded = set(EXCLUDED)
    return [k for k in keys if k.split(".")[0] not in excluded
            and len({_canon(c.get(k, _MISSING)) for c in configs}) > 1]


def factors(configs: list[dict], keys: list[str]) -> dict[str, list[str]]:
    """Group swept ``keys`` that split the jobs the same way (they vary together, as when one config-group
    override changes several keys): ``{first key: [its keys]}``."""
    groups: dict[tuple, list[str]] = {}
    for k in keys:
        labels = [_canon(c.get(k, _MISSING)) for c in configs]
        first = {}
        signature = tuple(first.setdefault(x, len(first)) for x in labels)
        groups.setdefault(signature, []).append(k)
    return {ks[0]: ks for ks in groups.values()}


def _cell(v):
    """A config value as a table cell: scalars as they are, lists/dicts as compact JSON."""
    if isinstance(v, (list, dict)):
        return json.dumps(v, default=str)
    return v


def wide_summary(long: pd.DataFrame) -> pd.DataFrame:
    """``summary_long.csv`` [arm x metric rows] -> one row per arm, columns ``<metric>.<stat>`` for every
    numeric summary column (``n, median, q25, q75, ci_low, ci_high, baseline_median, arm_median`` and any
    the study adds), metrics in their order of appearance."""
    missing = [c for c in ID_COLUMNS if c not in long.columns]
    if missing:
        raise InputError("summary_long.csv", f"missing column(s) {', '.join(missing)}")
    stats = [c for c in long.columns if c not in ID_COLUMNS and pd.api.types.is_numeric_dtype(long[c])]
    arms = list(dict.fromkeys(long["arm"]))
    metrics = list(dict.fromkeys(long["metric"]))
    w = long.set_index(["arm", "metric"])[stats].unstack("metric")       # columns (stat, metric)
    w = w.reindex(index=arms)
    w.columns = [f"{m}.{s}" for s, m in w.columns]
    for s in stats:                                    # unstacking turns counts into floats
        if pd.api.types.is_integer_dtype(long[s]):
            for m in metrics:
                if f"{m}.{s}" in w.columns:
                    w[f"{m}.{s}"] = w[f"{m}.{s}"].astype("Int64")
    order = [f"{m}.{s}" for m in metrics for s in stats if f"{m}.{s}" in w.columns]
    return w[order].rename_axis("arm").reset_index()


def sweep_table(jobs: list[Job], keys: list[str]) -> pd.DataFrame:
    """One row per finished job and arm: ``job``, the swept ``keys``, ``arm``, then ``<metric>.<stat>``."""
    parts = []
    for job in jobs:
        if not job.finished:
            continue
        try:
            long = pd.read_csv(job.path / "summary_long.csv")
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise InputError(str(job.path / "summary_long.csv"), f"unreadable ({type(exc).__name__})") from None
        try:
            w = wide_summary(long)
        except InputError as exc:
            raise InputError(str(job.path / "summary_long.csv"), str(exc).split(": ", 1)[1]) from None
        w.insert(0, "job", job.name)
        for i, k in enumerate(keys):
            w.insert(1 + i, k, _cell(job.config.get(k)))
        parts.append(w)
    table = pd.concat(parts, ignore_index=True)
    lead = ["job", *keys, "arm"]
    if keys:                       # rows in the order of the swept values (numbers as numbers), arms as listed
        order = pd.DataFrame({k: (table[k].astype(float) if _numeric(table[k].dropna().tolist()) else
                                  table[k].astype(str)) for k in keys})
        order["_arm"] = table.groupby("job", sort=False).cumcount()
        table = table.loc[order.sort_values([*keys, "_arm"], kind="stable").index].reset_index(drop=True)
    metric_cols = [c for c in table.columns if c not in lead]
    # Metrics present in only some jobs keep their columns (NaN elsewhere), in first-seen order.
    return table[lead + list(dict.fromkeys(metric_cols))]


def metrics_of(table: pd.DataFrame) -> list[str]:
    """Metric names of a sweep table (those with a ``<metric>.median`` column)."""
    return [c[: -len(".median")] for c in table.columns if c.endswith(".median")]


# ----------------------------------------------------------------------------------------------- figure

def _numeric(values) -> bool:
    try:
        [float(v) for v in values]
    except (TypeError, ValueError):
        return False
    return not any(isinstance(v, bool) for v in values)


def draw_sweep(table: pd.DataFrame, factor_keys: list[str], out: Path) -> list[Path]:
    """Per factor in ``factor_keys`` (columns of the saved ``sweep.csv``): every metric (rows of panels)
    against the factor's values, median with ``ci_low``-``ci_high`` error bars, one line per arm, one
    panel column per combination of the other factors. Writes ``out/sweep_<key>.png|pdf``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from experiments.figures import GREYS, MARKERS, _save, _style

    _style()
    metrics = metrics_of(table)
    arms = list(dict.fromkeys(table["arm"]))
    paths = []
    for key in factor_keys:
        others = [k for k in factor_keys if k != key]
        combos = (list(dict.fromkeys(map(tuple, table[others].astype(str).to_numpy()))) if others else [()])
        col = table[key].astype(object).where(table[key].notna(), "(absent)")    # absent in some jobs' configs
        values = list(dict.fromkeys(col))
        numeric = _numeric(values)
        xs = {v: (float(v) if numeric else i) for i, v in enumerate(sorted(values, key=float) if numeric else values)}
        height = 1.9 * len(metrics) + 0.8
        fig, axes = plt.subplots(len(metrics), len(combos), figsize=(2.6 * len(combos) + 1.2, height),
                                 squeeze=False, sharex=True)
        span = (max(xs.values()) - min(xs.values())) or 1.0
        for c, combo in enumerate(combos):
            sub = table
            for k, v in zip(others, combo):
                sub = sub[sub[k].astype(str) == v]
            for r, metric in enumerate(metrics):
                ax = axes[r, c]
                for a, arm in enumerate(arms):
                    d = sub[sub["arm"] == arm].copy()
                    d["_x"] = col[d.index].map(xs)
                    d = d.sort_values("_x").dropna(subset=[f"{metric}.median"])
                    if d.empty:
                        continue
                    x = d["_x"].to_numpy(float) + (a - (len(arms) - 1) / 2) * 0.012 * span
                    y = 100 * d[f"{metric}.median"].to_numpy(float)
                    err = None
                    if f"{metric}.ci_low" in d and f"{metric}.ci_high" in d:
                        err = [y - 100 * d[f"{metric}.ci_low"].to_numpy(float),
                               100 * d[f"{metric}.ci_high"].to_numpy(float) - y]
                    ax.errorbar(x, y, yerr=err, fmt="-" + MARKERS[a % len(MARKERS)], color=GREYS[a % len(GREYS)],
                                mec="black", ms=3.5, lw=0.9, capsize=2, label=arm if (r, c) == (0, 0) else None)
                ax.axhline(0, color="black", lw=0.5)
                if c == 0:
                    ax.set_ylabel(f"{metric}\n(x100 vs none)")
                if r == 0 and others:
                    ax.set_title(", ".join(f"{k}={v}" for k, v in zip(others, combo)), fontsize=7)
                if r == len(metrics) - 1:
                    ax.set_xlabel(key)
                    ticks = [f"{float(v):g}" if numeric else str(v) for v in xs]
                    ax.set_xticks(list(xs.values()), ticks)
        fig.suptitle("paired improvement against no calibration (median, bootstrap 95% CI; up = better)",
                     y=1.0, fontsize=8)
        fig.legend(loc="upper center", ncol=min(4, len(arms)), frameon=False,
                   bbox_to_anchor=(0.5, 1.0 - 0.2 / height))
        fig.tight_layout(rect=(0, 0, 1, 1.0 - 0.5 / height))
        paths += _save(fig, Path(out), f"sweep_{key}")
    return paths


# ---------------------------------------------------------------------------------------------------- CLI

USAGE = "usage: python -m experiments.sweep_report sweep=DIR [out=DIR] [figures=true|false]"


def _parse(argv: list[str]) -> dict:
    bad = [a for a in argv if "=" not in a]
    args = dict(a.split("=", 1) for a in argv if "=" in a)
    unknown = sorted(set(args) - {"sweep", "out", "figures"})
    if bad or unknown or "sweep" not in args:
        raise ConfigError("arguments", f"{' '.join(bad + unknown) or 'sweep= missing'}; {USAGE}")
    figures = args.get("figures", "true").lower()
    if figures not in ("true", "false"):
        raise ConfigError("figures", f"must be true or false, got {args['figures']!r}")
    return {"sweep": str(Path(args["sweep"])), "out": str(Path(args.get("out") or args["sweep"])),
            "figures": figures == "true"}


def run(cfg: Mapping[str, Any]) -> Path:
    """Collect the multirun ``cfg['sweep']`` into ``cfg['out']/sweep.csv`` (+ figures); returns the table path."""
    sweep, out = Path(cfg["sweep"]), Path(cfg["out"])
    if out != sweep and ((out / "fits.parquet").exists() or (out / "eqs.parquet").exists()):
        raise ConfigError("out", f"{out} is a study run folder; its config.yaml and manifest.json would be "
                                 "overwritten")
    jobs = read_jobs(sweep)
    finished = [j for j in jobs if j.finished]
    unfinished = [j for j in jobs if not j.finished]
    for j in unfinished:
        print(f"skipped unfinished job {j.name} ({j.status})", file=sys.stderr)
    if not finished:
        raise InputError(str(sweep), f"no finished jobs ({len(jobs)} job folder(s), none with status "
                                     "complete and summary_long.csv)")
    expected = expected_jobs(sweep)
    if expected is not None and expected != len(jobs):
        print(f"multirun.yaml asks for {expected} jobs; {len(jobs)} job folder(s) found", file=sys.stderr)
    keys = swept_keys([j.config for j in jobs])
    if not keys:
        print("no config key differs between the jobs: sweep.csv has no swept columns", file=sys.stderr)
    groups = factors([j.config for j in jobs], keys)
    table = sweep_table(jobs, keys)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "sweep.csv", table.to_csv(index=False))
    figures = []
    if cfg.get("figures", True) and keys:
        saved = pd.read_csv(out / "sweep.csv")          # figures read the saved table
        figures = draw_sweep(saved, list(groups), out / "figures")
    write_run_files(out, dict(cfg), 0, {
        "status": "complete", "n_jobs": len(jobs), "n_finished": len(finished),
        "skipped_jobs": {j.name: j.status for j in unfinished}, "expected_jobs": expected,
        "swept_keys": keys, "factors": groups, "n_rows": int(len(table)),
        "figures": [str(p.relative_to(out)) for p in figures]})
    return out / "sweep.csv"


def main(argv: list[str]) -> int:
    os.environ["MMM_COMMAND"] = " ".join(["python -m experiments.sweep_report", *argv])
    try:
        path = run(_parse(argv))
    except (ConfigError, InputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
