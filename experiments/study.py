"""``python -m experiments.study [study=quick|eqs_1241|full] ...``: the calibration study.

``run(cfg)`` lays the study out in shards (one world's consecutive truths with all
their replicates), computes every shard that has no saved result, writes each
shard atomically, and then aggregates everything into the run folder:

    config.yaml  manifest.json  fits.parquet  eqs.parquet  summary.csv
    summary_long.csv  shards/  figures/

The run folder is ``results/study/<study>/<config hash>`` unless ``out=DIR``;
rerunning the same command finds its finished shards and skips them.

``jobs=N`` computes shards in ``N`` worker processes (``auto``: one per CPU core).
JAX runs one NUTS program on one core, so on a 2-core machine two workers halve
the wall time; each worker compiles once (the persistent cache shares the work
when it can). Results do not depend on ``jobs``: every shard's keys come from the
seed and the shard's name.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import jax
import pandas as pd
import yaml
from omegaconf import DictConfig, OmegaConf

from estimators.decisions.identification import IdentificationSpec
from estimators.evidence.eqs import eqs_spec
from estimators.model.spec import fit_spec_from_config
from experiments.aggregate import (by_identification, by_precision, by_test_kind, paired, stability_split,
                                   summary_table)
from experiments.layout import dispatch_order, layout
from experiments.pipeline import Context, run_shard
from harness.cli import job_out
from harness.errors import ConfigError, FitError, InputError
from harness.manifest import atomic_write_text, config_hash, write_run_files
from simulate.config import world_spec
from simulate.lifttests import lift_spec

ROOT = Path(__file__).resolve().parents[1]
# Settings that do not change results, left out of the config hash.
_NOT_HASHED = ("out", "max_new_shards", "figures", "jobs")


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


def load_calibration(name: str) -> dict:
    """A calibration config by name (``conf/calibration/<name>.yaml`` over ``none.yaml``, as the
    config group composes it), for ``study.calibrations``."""
    folder = ROOT / "conf" / "calibration"
    path = folder / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml") if p.stem != "none")
        raise ConfigError("study.calibrations", f"no calibration {name!r} (conf/calibration/{name}.yaml); "
                          f"known: {', '.join(known)}")
    out = yaml.safe_load((folder / "none.yaml").read_text()) or {}
    own = yaml.safe_load(path.read_text()) or {}
    own.pop("defaults", None)
    return {**out, **own}


def _atomic_parquet(df: pd.DataFrame, path: Path) -> None:
    from harness.manifest import atomic_write_with

    atomic_write_with(path, lambda tmp: df.to_parquet(tmp, index=False))


def _canonical(df: pd.DataFrame, keys) -> pd.DataFrame:
    keys = [k for k in keys if k in df.columns]
    return df.sort_values(keys, kind="stable").reset_index(drop=True) if keys else df


def run_folder(cfg: DictConfig, plain: dict) -> Path:
    if cfg.get("out"):
        return job_out(cfg.out)
    hashed = {k: v for k, v in plain.items() if k not in _NOT_HASHED}
    return ROOT / "results" / "study" / str(cfg.study.name) / config_hash(hashed)


def _context(plain: dict, world_dicts: dict, seed: int) -> Context:
    """The static context of every shard, from the resolved config and the world profiles."""
    from harness.validate.profiles import profile_file

    worlds = {w: world_spec(d, f"world({w})", profile_file("world", w)) for w, d in world_dicts.items()}
    spec = lambda calibration: fit_spec_from_config({
        "model": plain.get("model") or {}, "priors": plain.get("priors") or {},
        "inference": plain["inference"], "calibration": calibration})
    base_spec = spec({**plain["calibration"], "method": "none"})
    names = (plain["study"].get("calibrations") or [])
    if names:
        cal_specs = {str(c): spec(load_calibration(str(c))) for c in names}
    else:
        one = spec(plain["calibration"])
        cal_specs = {one.calibration.label: one}
    bounds = {tuple(w.bounds) for w in worlds.values()}
    if len(bounds) != 1:
        raise ConfigError("study.worlds", "all worlds of a study must share planning.bounds")
    draws = (plain.get("analysis") or {}).get("draws", 250)
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 10:
        raise ConfigError("analysis.draws", f"must be a whole number >= 10, got {draws!r}")
    return Context(
        root=jax.random.key(seed), worlds=worlds,
        lift_good=lift_spec(plain["lift_good"], "lift_good", _lift_file(plain["lift_good"])),
        lift_bad=lift_spec(plain["lift_bad"], "lift_bad", _lift_file(plain["lift_bad"])),
        bad_share={name: float(sc["bad_share"]) for name, sc in plain["scenarios"].items()},
        base_spec=base_spec, cal_specs=cal_specs, eqs=eqs_spec(plain["eqs"]),
        n_channels=max(w.n_channels for w in worlds.values()), bounds=bounds.pop(), analysis_draws=draws,
        ident=IdentificationSpec.from_config(plain.get("identification")))


def _lift_file(d: dict):
    from harness.validate.profiles import profile_file

    return profile_file("lift", str(d.get("name"))) if isinstance(d, dict) else None


SHARDS_PER_WORKER = 3   # ``jobs=auto`` starts a worker per this many shards (each worker compiles once)


def _jobs(value, n_todo: int) -> int:
    from harness.engine import engine_from

    eng = engine_from(value)
    return _workers(eng.workers, n_todo)


def _workers(value, n_todo: int) -> int:
    """Worker processes: ``auto`` is one per CPU core, but no more than one per
    ``SHARDS_PER_WORKER`` shards to do, because every worker pays the compilation (about a minute
    on 2 cores, and slower when two compile at once: the quick study took 1:39 with one worker and
    1:55 with two); never more than the shards to do."""
    if value in (None, "auto"):
        n = min(os.cpu_count() or 1, max(1, n_todo // SHARDS_PER_WORKER))
    else:
        try:
            n = int(value)
        except (TypeError, ValueError):
            raise ConfigError("jobs", f"must be a positive integer or 'auto', got {value!r}") from None
        if isinstance(value, bool) or n < 1 or n != value and str(n) != str(value):
            raise ConfigError("jobs", f"must be a positive integer or 'auto', got {value!r}")
    return max(1, min(n, n_todo))


def _compute_shard(ctx: Context, shard, arms, mixed_arms, shard_dir: Path) -> tuple[int, bool]:
    """Fit one shard and write its tables atomically; returns ``(number of fits, whether it failed)``.

    A shard whose computation raises (any ``Exception`` but a config or input error, which stops
    the study) does not stop the study: every fit it planned becomes a ``failed`` row whose
    ``reason`` is the exception's type and message, written to ``<shard>.failed.parquet`` (and the
    traceback to ``<shard>.failed.txt``), never to ``<shard>.fits.parquet``, the done-mark, so a
    rerun retries the shard; a shard that succeeds removes its failure record.
    """
    import traceback

    from experiments.layout import planned_fits
    from experiments.metrics import METRICS
    from experiments.status import classify, exception_reason, failed_rows

    failed = shard_dir / f"{shard.shard_id}.failed.parquet"
    try:
        fits, eqs = run_shard(ctx, shard, arms, mixed_arms)
        fits = classify(fits, [m for m in METRICS if m in fits.columns], ctx.base_spec.inference.chains)
    except (ConfigError, InputError):
        raise
    except Exception as exc:  # noqa: BLE001 - recorded as failed rows, reported at the end
        reason = exception_reason(exc)
        cal_label = lambda a: "none" if a.scenario == "none" else \
            ctx.cal_specs[a.calibration or next(iter(ctx.cal_specs))].calibration.label
        rows = failed_rows(planned_fits(shard, arms, mixed_arms), shard.world,
                           ctx.worlds[shard.world].n_channels, cal_label, ctx.base_spec.inference.method,
                           shard.shard_id, reason)
        atomic_write_text(shard_dir / f"{shard.shard_id}.failed.txt", traceback.format_exc())
        _atomic_parquet(rows, failed)
        print(f"  [{shard.shard_id}] failed: {reason} ({len(rows)} fits recorded as failed; a rerun "
              f"retries the shard)", file=sys.stderr, flush=True)
        return len(rows), True
    _atomic_parquet(eqs, shard_dir / f"{shard.shard_id}.eqs.parquet")
    _atomic_parquet(fits, shard_dir / f"{shard.shard_id}.fits.parquet")   # its presence marks the shard done
    for stale in (failed, shard_dir / f"{shard.shard_id}.failed.txt"):
        stale.unlink(missing_ok=True)
    return len(fits), False


def _worker(plain: dict, world_dicts: dict, seed: int, shard, arms, mixed_arms, shard_dir: str,
            parent_pid: int | None = None) -> tuple:
    """Entry point of a worker process: rebuild the context, compute one shard. With
    ``parent_pid`` (local workers) the worker ends itself when that process dies."""
    from experiments.faults import start_parent_watch
    from harness.jaxcache import enable_cache

    if parent_pid is not None:
        start_parent_watch(parent_pid)
    enable_cache()
    ctx = _worker_context(plain, world_dicts, seed)
    return shard.shard_id, _compute_shard(ctx, shard, arms, mixed_arms, Path(shard_dir))


_CTX_CACHE: dict = {}


def _worker_context(plain: dict, world_dicts: dict, seed: int) -> Context:
    key = json.dumps([plain, world_dicts, seed], sort_keys=True, default=str)
    if key not in _CTX_CACHE:
        _CTX_CACHE.clear()
        _CTX_CACHE[key] = _context(plain, world_dicts, seed)
    return _CTX_CACHE[key]


def write_summaries(out: Path, fits: pd.DataFrame, long: pd.DataFrame, seed: int) -> None:
    """The run's summary tables: ``summary.csv`` (medians of per-dataset improvements),
    ``summary_ratio_of_means.csv``, ``summary_share_improved.csv``, ``stability.csv`` (bias squared
    and variance of ROI_hat / ROI per arm), ``summary_precision.csv`` (verdicts by bins of the
    realised precision of the tests used), ``summary_identified.csv`` (channel verdicts split by
    whether the baseline identified the channel's ROI) and ``summary_test_kind.csv`` (ROI and mROI
    verdicts by the kind of test used: go-dark, scale-up)."""
    atomic_write_text(out / "summary.csv", summary_table(long).to_csv())
    for stat in ("ratio_of_means", "share_improved"):
        atomic_write_text(out / f"summary_{stat}.csv", summary_table(long, stat).to_csv())
    atomic_write_text(out / "stability.csv", stability_split(fits).to_csv(index=False))
    atomic_write_text(out / "summary_precision.csv", by_precision(fits, seed).to_csv(index=False))
    atomic_write_text(out / "summary_identified.csv", by_identification(fits, seed).to_csv(index=False))
    atomic_write_text(out / "summary_test_kind.csv", by_test_kind(fits, seed).to_csv(index=False))


def run(cfg: DictConfig) -> Path:
    """Run (or resume) the study described by ``cfg``; returns the run folder.

    Before any work: the run folder is checked for writability, and an earlier run's manifest
    still saying ``running`` is reported (its process gone: a stale run, resumed; its process
    alive on this host: refused, two runs must not write one folder).
    """
    from experiments import faults
    from experiments.status import counts, counts_by_arm, with_exclusions
    from harness.engine import engine_from, run_tasks
    from harness.progress import Progress
    from harness.validate import warn
    from harness.validate.paths import ensure_writable_dir

    t_start = time.time()
    plain = OmegaConf.to_container(cfg, resolve=True)
    engine = engine_from(plain.get("jobs", "auto"))
    world_dicts = {w: load_world(w) for w in plain["study"]["worlds"]}
    seed = int(cfg.seed)
    ctx = _context(plain, world_dicts, seed)
    lay = layout(plain["study"], str(cfg.strategy.name), int(cfg.study.shard_truths), next(iter(ctx.cal_specs)))
    out = ensure_writable_dir(run_folder(cfg, plain), "out")
    prev = faults.previous_run(out)
    if prev and prev["state"] == "live":
        raise ConfigError("out", f"another study (pid {prev['pid']}, started {prev['started_at']}) is still "
                                 f"running in {out}; wait for it or stop it")
    if prev:
        warn(f"{out}: the previous run (pid {prev['pid']}, host {prev['host']}, started {prev['started_at']}) "
             f"stopped without finishing (manifest still 'running', {prev['state']}); resuming from its shards")
    shard_dir = out / "shards"
    done = [s for s in lay.shards if (shard_dir / f"{s.shard_id}.fits.parquet").exists()]
    todo = [s for s in lay.shards if s not in done]
    limited = cfg.max_new_shards is not None and len(todo) > int(cfg.max_new_shards)
    if limited:
        todo = todo[:int(cfg.max_new_shards)]
    jobs = 1 if engine.kind == "dask" else _workers(engine.workers, len(todo))
    shard_dir.mkdir(parents=True, exist_ok=True)
    # A rerun of a finished study keeps the wall time of the invocation that ran it all.
    earlier = json.loads((out / "manifest.json").read_text()) if (out / "manifest.json").is_file() else {}
    kept = {"wall_seconds": earlier["wall_seconds"]} if "wall_seconds" in earlier and not todo else {}
    write_run_files(out, plain, seed, {**kept, "status": "running", "n_datasets": lay.n_datasets,
                                       "n_fits_planned": lay.n_fits, "run": faults.owner(),
                                       "engine": engine.kind, "stale_run_resumed": prev})
    where = f"Dask at {engine.scheduler}" if engine.kind == "dask" else f"{jobs} worker(s)"
    print(f"study '{cfg.study.name}': {lay.n_datasets} datasets, {lay.n_fits} fits in {len(lay.shards)} "
          f"shards ({cfg.inference.method}, {', '.join(ctx.cal_specs)}, {where}) -> {out}",
          file=sys.stderr, flush=True)
    done_fits = sum(len(pd.read_parquet(shard_dir / f"{s.shard_id}.fits.parquet", columns=["arm"])) for s in done)
    if done:
        print(f"resuming: {len(done)} shard(s) already done ({done_fits} fits)", file=sys.stderr, flush=True)

    retried = [s.shard_id for s in todo if (shard_dir / f"{s.shard_id}.failed.parquet").exists()]
    if retried:
        print(f"retrying {len(retried)} shard(s) that failed before: {', '.join(retried)}", file=sys.stderr, flush=True)
    with Progress(len(todo), f"study {cfg.study.name}", unit="shard", lines=True) as bar:
        if jobs == 1 and engine.kind == "local":
            for shard in todo:
                done_fits += _compute_shard(ctx, shard, lay.arms, lay.mixed_arms, shard_dir)[0]
                bar.add()
        elif todo:
            parent = os.getpid() if engine.kind == "local" else None
            tasks = [(plain, world_dicts, seed, s, lay.arms, lay.mixed_arms, str(shard_dir), parent)
                     for s in dispatch_order(todo)]
            for shard_id, (n_fits, _) in run_tasks(_worker, tasks, engine, jobs):
                done_fits += n_fits
                bar.add()
    if limited:
        manifest = json.loads((out / "manifest.json").read_text())
        manifest["status"] = "partial"          # stopped on purpose (max_new_shards), not killed
        atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2))
        print(f"stopping after {len(todo)} new shard(s) (max_new_shards); rerun to continue", file=sys.stderr)
        return out
    # Rows in a canonical order (dataset, then arm), so the tables and the seeded bootstrap of the
    # summaries do not depend on how the datasets were cut into shards.
    # A failed shard's rows come from its failure record (no eqs rows: its tests were never scored);
    # any shard without its done-mark has one, since every shard of the layout was attempted.
    ok = [s for s in lay.shards if (shard_dir / f"{s.shard_id}.fits.parquet").exists()]
    failed = [s.shard_id for s in lay.shards if s not in ok]
    fits = _canonical(pd.concat([pd.read_parquet(shard_dir / f"{s.shard_id}.fits.parquet") for s in ok]
                                + [pd.read_parquet(shard_dir / f"{i}.failed.parquet") for i in failed],
                                ignore_index=True), ["dataset_id", "arm"])
    eqs = _canonical(pd.concat([pd.read_parquet(shard_dir / f"{s.shard_id}.eqs.parquet") for s in ok],
                               ignore_index=True), ["dataset_id", "experiments", "scenario", "test_id"]) \
        if ok else pd.DataFrame()
    _atomic_parquet(fits, out / "fits.parquet")
    _atomic_parquet(eqs, out / "eqs.parquet")
    long = with_exclusions(paired(fits, int(cfg.seed)), fits)
    atomic_write_text(out / "summary_long.csv", long.to_csv(index=False))
    write_summaries(out, fits, long, int(cfg.seed))
    table = summary_table(long)
    by_arm = counts_by_arm(fits)
    table.loc["fits not ok: failed / diverged / below quality bar / approximation unreliable"] = [
        (f"{by_arm.loc[a, 'failed']} / {by_arm.loc[a, 'diverged']} / {by_arm.loc[a, 'below_quality_bar']}"
         f" / {by_arm.loc[a, 'approximation_unreliable']}" if a in by_arm.index else "") for a in table.columns]
    atomic_write_text(out / "summary.csv", table.to_csv())
    atomic_write_text(out / "status.csv", by_arm.to_csv())
    if cfg.get("figures", True):
        from experiments.figures import draw_all

        draw_all(out)
    manifest = json.loads((out / "manifest.json").read_text())
    wall = round(time.time() - t_start, 1)
    status = counts(fits)
    manifest.update({"status": "complete_with_failures" if failed else "complete", "n_fits": int(len(fits)),
                     "wall_seconds_last_invocation": wall, "n_fits_by_status": status,
                     "n_fits_below_quality_bar": status["below_quality_bar"],
                     "failed_shards": {i: str(pd.read_parquet(shard_dir / f"{i}.failed.parquet",
                                                              columns=["reason"])["reason"].iloc[0])
                                       for i in failed}})
    if not done:                       # the whole study ran in this invocation
        manifest["wall_seconds"] = wall
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2))
    with pd.option_context("display.width", 200, "display.max_colwidth", 40):
        print(table.to_string())
    print(f"study '{cfg.study.name}' complete: {len(fits)} fits ("
          + ", ".join(f"{v} {k}" for k, v in status.items() if v) + f") -> {out}", file=sys.stderr)
    if failed:
        raise FitError(f"{len(failed)} of {len(lay.shards)} shard(s) raised ({', '.join(failed)}: "
                       f"{manifest['failed_shards'][failed[0]]}); their fits are 'failed' rows in the tables and "
                       f"status.csv, tracebacks in {shard_dir}/<shard>.failed.txt; rerun to retry them")
    return out


if __name__ == "__main__":
    from harness.cli import main

    main("study", run)
