"""The ``python -m simulate`` app: ``run(cfg)`` generates, writes and summarises datasets."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import jax
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from harness.errors import ConfigError
from harness.manifest import atomic_write_text, write_run_files
from simulate.config import world_spec
from simulate.core import simulate, simulate_all_tests
from simulate.io import write_dataset
from simulate.lifttests import lift_spec


def _choice(group: str, default):
    """The option chosen for config group ``group`` in the running Hydra app (else ``default``)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            return HydraConfig.get().runtime.choices.get(group) or default
    except Exception:  # noqa: BLE001
        pass
    return default


def _int(cfg, key, lo):
    v = cfg.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise ConfigError(key, f"must be a whole number >= {lo}, got {v!r}")
    return v


def summarise(dataset, truth, all_tests) -> pd.DataFrame:
    """One row per dataset: KPI level, media share, ROI and test counts."""
    rows = []
    for i, ds_id in enumerate(dataset.dataset_ids):
        tests, hidden = all_tests[i]
        media = truth.contributions[i].sum()
        row = {"dataset_id": ds_id, "truth_id": truth.truth_ids[i], "replicate": int(truth.replicate[i]),
               "weeks": dataset.kpi.shape[1], "mean_kpi": float(dataset.kpi[i].mean()),
               "media_share": float(media / dataset.kpi[i].sum()),
               "total_spend": float(dataset.spend[i].sum()), "n_tests": len(tests),
               "n_failed_tests": sum(bool(h.failure_modes) for h in hidden)}
        for k, name in enumerate(dataset.channel_names):
            row[f"roi_{name}"] = float(truth.roi[i, k])
        rows.append(row)
    return pd.DataFrame(rows)


def run(cfg: DictConfig) -> Path:
    """Generate ``n_datasets x n_replicates`` datasets and write them under ``cfg.out``."""
    from harness.cli import job_out
    from harness.validate.paths import ensure_writable_dir
    from harness.validate.profiles import profile_file

    spec = world_spec(OmegaConf.to_container(cfg.world, resolve=True), "world",
                      profile_file("world", _choice("world", cfg.world.get("name"))))
    lspec = lift_spec(OmegaConf.to_container(cfg.lift, resolve=True), "lift",
                      profile_file("lift", _choice("lift", cfg.lift.get("name"))))
    n = _int(cfg, "n_datasets", 1)
    r = _int(cfg, "n_replicates", 1)
    seed = _int(cfg, "seed", 0)
    out = ensure_writable_dir(job_out(str(cfg.out)), "out")
    from simulate.lifttests import READOUTS
    if cfg.get("readout") not in READOUTS:
        raise ConfigError("readout", f"must be one of {', '.join(READOUTS)}, got {cfg.get('readout')!r}")
    t_start = time.time()
    print(f"simulate: {n} truth(s) x {r} replicate(s) of world '{spec.name}', seed {seed} -> {out}",
          file=sys.stderr, flush=True)
    from harness.progress import Progress

    key = jax.random.key(seed)
    n_ds = n * r
    with Progress(2 + n_ds, "simulate", unit="step") as bar:
        dataset, truth = simulate(key, spec, n, r)
        bar.add()
        print(f"simulate: worlds drawn in {time.time() - t_start:.1f}s; running lift tests on the panel",
              file=sys.stderr, flush=True)
        all_tests = simulate_all_tests(key, dataset, truth, spec, lspec, n, r, str(cfg.readout))
        bar.add()
        for i in range(len(dataset.dataset_ids)):
            write_dataset(out, dataset, truth, i, *all_tests[i])
            bar.add()
    summary = summarise(dataset, truth, all_tests)
    atomic_write_text(out / "summary.csv", summary.to_csv(index=False))
    if cfg.get("figure", False):
        from simulate.figures import dataset_figure
        dataset_figure(out / dataset.dataset_ids[0], out / "figures" / dataset.dataset_ids[0])
    write_run_files(out, OmegaConf.to_container(cfg, resolve=True), seed,
                    {"wall_seconds": round(time.time() - t_start, 2),
                     "datasets": list(dataset.dataset_ids)})
    with pd.option_context("display.width", 160, "display.max_columns", 12):
        print(summary[["dataset_id", "mean_kpi", "media_share", "n_tests"]
                      + [c for c in summary if c.startswith("roi_")]].round(3).to_string(index=False))
    print(f"simulate: wrote {len(summary)} dataset folder(s) to {out} in {time.time() - t_start:.1f}s",
          file=sys.stderr)
    return out
