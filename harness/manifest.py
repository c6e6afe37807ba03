"""Resolved config + manifest (git revision, package versions, seed, config hash) for every output folder."""
from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

PACKAGES = ("jax", "jaxlib", "numpyro", "hydra-core", "numpy", "pandas", "scipy", "matplotlib",
            "pyarrow", "joblib", "pydantic", "arviz", "dask", "distributed", "tqdm")


def config_hash(cfg: Mapping[str, Any]) -> str:
    """Stable short hash of a (plain, JSON-able) config mapping."""
    blob = json.dumps(cfg, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def git_revision() -> str:
    """Current git commit of the project (``+dirty`` when the tree has changes), or ``unknown``."""
    root = Path(__file__).resolve().parents[1]
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (rev + ("+dirty" if dirty else "")) if rev else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions() -> dict:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def user_umask() -> int:
    """The process's umask (read without changing it for longer than two calls)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and rename; the file gets the mode a plain
    ``open`` would give it (``0o666`` less the user's umask), not ``mkstemp``'s private 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o666 & ~user_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_with(path: Path, write) -> None:
    """``write(tmp_path)`` writes a file, which then replaces ``path`` atomically, with the mode
    a plain ``open`` would give it (for writers that take a path: parquet, netCDF)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~user_umask())
        os.replace(tmp, path)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise


def write_run_files(out: Path, cfg: Mapping[str, Any], seed: int, extra: Mapping | None = None) -> dict:
    """Write ``config.yaml`` (resolved) and ``manifest.json`` into ``out``; returns the manifest."""
    import yaml

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", yaml.safe_dump(dict(cfg), sort_keys=False))
    manifest = {
        "git_revision": git_revision(),
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "machine": {"platform": platform.platform(), "processor": platform.machine(),
                    "cpus": os.cpu_count()},
        "seed": int(seed),
        "config_hash": config_hash(cfg),
        "command": os.environ.get("MMM_COMMAND") or " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
    }
    if extra:
        manifest.update(extra)
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2, default=str))
    return manifest
