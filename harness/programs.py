"""Traced programs kept on disk, so that a warm run skips Python tracing as well as XLA compiling.

JAX's persistent compilation cache (:mod:`harness.jaxcache`) saves the XLA compile of a program,
but every new process still traces it in Python and lowers it to StableHLO first: for the MAP and
NUTS programs of ``estimators.calibrate`` that is most of a warm run's fixed cost. With the store
enabled (:func:`enable`), :func:`persistent` wraps a jitted function so that its first call for a
given signature looks for that program in ``<compilation cache>/programs/``:

* found: the serialized :mod:`jax.export` module is read back and called (no tracing; its compile
  is a compilation-cache hit after the first time);
* missing: the function is exported (traced and lowered once, as a first call would be anyway),
  written atomically, and the exported module is what gets called.

Either way the exported module is what runs, so a cold and a warm run compute the same bits (and
they are the same bits as the plain jitted function: tested in ``tests/harness/test_programs.py``).

A program's file name is a digest of its name, the caller's key (the specs and shapes the
function closes over, by ``repr``), the call's argument signature (pytree structure, shapes and
dtypes), the versions of jax, jaxlib and numpyro, and the source of every Python module of the
project, so any edit to the code makes a new program rather than running a stale one.

Off unless :func:`enable` is called (the practitioner's commands do; the study does not, so its
timings do not depend on what an earlier run left on disk); ``MMM_PROGRAM_STORE=0`` keeps it
off. Needs ``flatbuffers`` (jax's serializer); without it the store stays off and says so once.
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
ROOMS = ("common", "estimators", "experiments", "harness", "simulate")

_STATE = {"dir": None, "code": None}
_REGISTERED: set = set()


def enable(path: str | os.PathLike | None = None) -> Path | None:
    """Turn the store on, in ``path`` (default: ``programs/`` in the compilation cache folder).
    Returns the folder, or None when jax's serializer is not installed or ``MMM_PROGRAM_STORE=0``
    turns the store off."""
    if os.environ.get("MMM_PROGRAM_STORE") == "0":
        return None
    try:
        import flatbuffers  # noqa: F401  (jax.export's serializer)
    except ImportError:
        print("note: flatbuffers is not installed: traced programs are not kept between runs", file=sys.stderr)
        return None
    if path is None:
        from harness.jaxcache import cache_dir

        path = Path(cache_dir()) / "programs"
    _STATE["dir"] = Path(path)
    return _STATE["dir"]


def disable() -> None:
    _STATE["dir"] = None


def enabled() -> bool:
    return _STATE["dir"] is not None


def code_digest() -> str:
    """sha256 over the project's Python sources (every module of the five rooms) and the versions
    of jax, jaxlib and numpyro."""
    if _STATE["code"] is None:
        import jax
        import jaxlib
        import numpyro

        h = hashlib.sha256(f"{jax.__version__} {jaxlib.__version__} {numpyro.__version__}".encode())
        for room in ROOMS:
            for p in sorted((ROOT / room).rglob("*.py")):
                h.update(str(p.relative_to(ROOT)).encode())
                h.update(p.read_bytes())
        _STATE["code"] = h.hexdigest()
    return _STATE["code"]


def _register(types) -> None:
    """Register the named tuples that cross a stored program's boundary for serialization, once each."""
    from jax import export

    for cls in types:
        if cls not in _REGISTERED:
            export.register_namedtuple_serialization(cls, serialized_name=f"{cls.__module__}.{cls.__qualname__}")
            _REGISTERED.add(cls)


def signature(args: tuple) -> str:
    """The pytree structure, shapes and dtypes of ``args`` (what a compiled program is specific to)."""
    import jax

    leaves, tree = jax.tree.flatten(args)
    return f"{tree}|" + ";".join(f"{getattr(x, 'shape', ())}:{getattr(x, 'dtype', type(x).__name__)}"
                                 for x in leaves)


class _Stored:
    """A jitted function whose programs come from (and go to) the store; see the module docstring."""

    def __init__(self, name: str, fn: Callable, key, types: tuple):
        self.name, self.fn, self.key, self.types = name, fn, repr(key), tuple(types)
        self.calls: dict = {}

    def path_for(self, sig: str) -> Path:
        h = hashlib.sha256("\n".join((self.name, self.key, sig, code_digest())).encode()).hexdigest()
        return _STATE["dir"] / f"{self.name}-{h[:24]}.jaxexport"

    def _load(self, args: tuple) -> Callable:
        import jax
        from jax import export

        from harness.manifest import atomic_write_with

        _register(self.types)
        path = self.path_for(signature(args))
        exported = None
        if path.is_file():
            try:
                exported = export.deserialize(bytearray(path.read_bytes()))
            except Exception:  # noqa: BLE001 - a truncated or foreign file: export afresh below
                exported = None
        if exported is None:
            exported = export.export(self.fn)(*args)
            blob = exported.serialize()
            try:
                atomic_write_with(path, lambda tmp: Path(tmp).write_bytes(blob))
            except OSError:
                pass            # a read-only cache only costs the next run its tracing
        return jax.jit(exported.call)

    def __call__(self, *args):
        if _STATE["dir"] is None:
            return self.fn(*args)
        sig = signature(args)
        if sig not in self.calls:
            self.calls[sig] = self._load(args)
        return self.calls[sig](*args)


def persistent(name: str, fn: Callable, key, types: tuple = ()) -> Callable:
    """``fn`` (a jitted function) with its traced programs kept on disk while the store is enabled.

    Args:
        name: a short name for the program's files (``map``, ``nuts_step``, ...).
        fn: the jitted function.
        key: everything ``fn`` closes over that decides its program (specs, layout keys), as a value
            whose ``repr`` is stable across processes.
        types: the NamedTuple classes among its arguments and results (serialized by name).
    """
    return _Stored(name, fn, key, types)
