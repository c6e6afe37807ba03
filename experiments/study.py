"""``python -m experiments.study [study=quick|eqs_1241|full] ...``: the calibration study.

``run(cfg)`` lays the study out in shards (one world's consecutive truths with all
their replicates), computes every shard that has no saved result, writes each
shard atomically, and then aggregates everything into the run folder:

    config.yaml  manifest.json  fits.parquet  eqs.parquet  summary.csv
    summary_long.csv  shards/  figures/

The run folder is ``results/study/<study>/<config hash>`` unless ``out=DIR``;
rerunning the same command finds its finished shards and skips them.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import jax
import pandas as pd
import yaml
from omegaconf import DictConfig, OmegaConf

from estimators.eqs import eqs_spec
from estimators.spec import fit_spec_from_config
from experiments.aggregate import paired, summary_table
from experiments.design import layout
from experiments.runner import Context, run_shard
from harness.errors import ConfigError
from harness.manifest import atomic_write_text, config_hash, write_run_files
from simulate.config import world_spec
from simulate.lifttests import lift_spec

ROOT = Path(__file__).resolve().parents[1]
# Settings that do not change results, left out of the config hash.
_NOT_HASHED = ("out", "max_new_shards", "figures")


def load_world(name: str) -> dict:
    """A world profile by name, from the config search path (``conf/world/<name>.yaml``)."""
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        from hydra import compose

        try:
            return OmegaConf.to_container(compose(config_name=f"world/{name}")["world"], resolve=True)
        except Exception:  # noqa: BLE001 - fall back to the project's own folder below
            pass
    path = ROOT / "conf" / "world" / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"study.worlds.{name}", f"no world profile conf/world/{name}.yaml")
    return yaml.safe_load(path.read_text())


def _atomic_parquet(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    df.to_parquet(tmp, index=False)
    tmp.replace(path)


def run_folder(cfg: DictConfig, plain: dict) -> Path:
    if cfg.get("out"):
        return Path(str(cfg.out))
    hashed = {k: v for k, v in plain.items() if k not in _NOT_HASHED}
    return ROOT / "results" / "study" / str(cfg.study.name) / config_hash(hashed)


def run(cfg: DictConfig) -> Path:
    """Run (or resume) the study described by ``cfg``; returns the run folder."""
    t_start = time.time()
    plain = OmegaConf.to_container(cfg, resolve=True)
    lay = layout(plain["study"], str(cfg.strategy.name), int(cfg.study.shard_truths))
    worlds = {w: world_spec(load_world(w), f"world({w})") for w in plain["study"]["worlds"]}
    base_spec = fit_spec_from_config({"model": plain.get("model") or {}, "priors": plain.get("priors") or {},
                                      "inference": plain["inference"], "calibration": "none"})
    cal_spec = fit_spec_from_config({"model": plain.get("model") or {}, "priors": plain.get("priors") or {},
                                     "inference": plain["inference"], "calibration": plain["calibration"]})
    bounds = {tuple(w.bounds) for w in worlds.values()}
    if len(bounds) != 1:
        raise ConfigError("study.worlds", "all worlds of a study must share planning.bounds")
    ctx = Context(
        root=jax.random.key(int(cfg.seed)), worlds=worlds,
        lift_good=lift_spec(plain["lift_good"], "lift_good"), lift_bad=lift_spec(plain["lift_bad"], "lift_bad"),
        bad_share={name: float(sc["bad_share"]) for name, sc in plain["scenarios"].items()},
        base_spec=base_spec, cal_spec=cal_spec, eqs=eqs_spec(plain["eqs"]),
        n_tests_pad=int(cfg.n_tests_pad), n_window_pad=int(cfg.n_window_pad),
        n_channels_pad=max(w.n_channels for w in worlds.values()), bounds=bounds.pop(),
        n_full_pad=int(cfg.study.shard_truths) * int(plain["study"]["replicates"]),
        n_mixed_pad=int(cfg.study.get("mixed_batch") or cfg.study.shard_truths))
    out = run_folder(cfg, plain)
    shard_dir = out / "shards"
    shard_dir.mkdir(parents=True, exist_ok=True)
    write_run_files(out, plain, int(cfg.seed), {"status": "running", "n_datasets": lay.n_datasets,
                                                "n_fits_planned": lay.n_fits})
    print(f"study '{cfg.study.name}': {lay.n_datasets} datasets, {lay.n_fits} fits in {len(lay.shards)} "
          f"shards ({cfg.inference.method}, {cfg.calibration.method}) -> {out}", file=sys.stderr, flush=True)
    new, done_fits = 0, 0
    todo = [s for s in lay.shards if not (shard_dir / f"{s.shard_id}.fits.parquet").exists()]
    for s in lay.shards:
        if s not in todo:
            done_fits += len(pd.read_parquet(shard_dir / f"{s.shard_id}.fits.parquet", columns=["arm"]))
    if len(todo) < len(lay.shards):
        print(f"resuming: {len(lay.shards) - len(todo)} shard(s) already done ({done_fits} fits)",
              file=sys.stderr, flush=True)
    t_loop = time.time()
    for n_done, shard in enumerate(todo):
        if cfg.max_new_shards is not None and new >= int(cfg.max_new_shards):
            print(f"stopping after {new} new shard(s) (max_new_shards); rerun to continue", file=sys.stderr)
            return out
        print(f"shard {lay.shards.index(shard) + 1}/{len(lay.shards)} {shard.shard_id}", file=sys.stderr, flush=True)
        fits, eqs = run_shard(ctx, shard, lay.arms, lay.mixed_arms)
        _atomic_parquet(eqs, shard_dir / f"{shard.shard_id}.eqs.parquet")
        _atomic_parquet(fits, shard_dir / f"{shard.shard_id}.fits.parquet")   # its presence marks the shard done
        new += 1
        done_fits += len(fits)
        per = (time.time() - t_loop) / (n_done + 1)
        left = len(todo) - n_done - 1
        print(f"  {done_fits}/{lay.n_fits} fits; about {per * left / 60:.1f} min left", file=sys.stderr, flush=True)
    fits = pd.concat([pd.read_parquet(shard_dir / f"{s.shard_id}.fits.parquet") for s in lay.shards],
                     ignore_index=True)
    eqs = pd.concat([pd.read_parquet(shard_dir / f"{s.shard_id}.eqs.parquet") for s in lay.shards],
                    ignore_index=True)
    _atomic_parquet(fits, out / "fits.parquet")
    _atomic_parquet(eqs, out / "eqs.parquet")
    long = paired(fits, int(cfg.seed))
    atomic_write_text(out / "summary_long.csv", long.to_csv(index=False))
    atomic_write_text(out / "summary.csv", summary_table(long).to_csv())
    if cfg.get("figures", True):
        from experiments.figures import draw_all

        draw_all(out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest.update({"status": "complete", "n_fits": int(len(fits)), "wall_seconds_last_invocation":
                     round(time.time() - t_start, 1)})
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2))
    with pd.option_context("display.width", 200, "display.max_colwidth", 40):
        print(summary_table(long).to_string())
    print(f"study '{cfg.study.name}' complete: {len(fits)} fits -> {out}", file=sys.stderr)
    return out


if __name__ == "__main__":
    from harness.cli import main

    main("study", run)
