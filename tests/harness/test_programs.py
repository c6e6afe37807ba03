"""The program store (harness/programs.py): stored programs give the plain function's bits, are
read back instead of re-traced, and are never reused across a code change or a different key."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from estimators.inference.laplace import Laplace
from harness import programs


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setitem(programs._STATE, "dir", None)
    path = programs.enable(tmp_path / "programs")
    assert path is not None, "flatbuffers is a declared dependency"
    yield path
    programs.disable()


def _fn(scale: float):
    def f(lap: Laplace, x):
        # a scan and a NamedTuple in and out, as the estimator's programs have
        y, _ = jax.lax.scan(lambda c, v: (c * 0.9 + jnp.sin(v) * scale, None), x, lap.u)
        return Laplace(lap.u * y.sum(), lap.chol @ lap.cov, lap.cov, lap.potential + 1, y.sum(), lap.min_eig), y
    return jax.jit(f)


def _args(seed: int = 0):
    r = np.random.default_rng(seed)
    lap = Laplace(*(jnp.asarray(r.normal(size=s), jnp.float32) for s in ((5, 3), (3, 3), (3, 3), (), (), ())))
    return lap, jnp.asarray(r.normal(size=3), jnp.float32)


def _same(a, b) -> bool:
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(la, lb))


def test_stored_program_gives_the_plain_functions_bits_and_is_read_back(store, monkeypatch):
    args = _args()
    plain = _fn(2.0)(*args)
    first = programs.persistent("toy", _fn(2.0), ("toy", 2.0), (Laplace,))
    out1 = first(*args)
    files = list(store.glob("toy-*.jaxexport"))
    assert len(files) == 1
    assert _same(out1, plain)
    assert type(out1[0]) is Laplace                     # the NamedTuple survives the round trip

    # A new process is a new wrapper: it must read the file, not trace (export would fail here).
    def no_export(*a, **k):
        raise AssertionError("re-traced a stored program")
    monkeypatch.setattr(jax.export, "export", no_export)
    again = programs.persistent("toy", _fn(2.0), ("toy", 2.0), (Laplace,))
    assert _same(again(*args), plain)
    other = _args(1)                                      # same signature, other values: same file
    assert _same(again(*other), _fn(2.0)(*other))
    assert len(list(store.glob("toy-*.jaxexport"))) == 1


def test_a_different_key_or_signature_makes_a_new_program(store):
    args = _args()
    programs.persistent("toy", _fn(2.0), ("toy", 2.0), (Laplace,))(*args)
    out = programs.persistent("toy", _fn(3.0), ("toy", 3.0), (Laplace,))(*args)
    assert _same(out, _fn(3.0)(*args))                   # not the scale-2 program read back
    lap, x = args
    longer = lap._replace(u=jnp.ones((7, 3), jnp.float32))
    programs.persistent("toy", _fn(2.0), ("toy", 2.0), (Laplace,))(longer, x)
    assert len(list(store.glob("toy-*.jaxexport"))) == 3


def test_a_truncated_file_is_exported_afresh(store):
    args = _args()
    programs.persistent("toy", _fn(2.0), ("toy", 2.0), (Laplace,))(*args)
    (path,) = store.glob("toy-*.jaxexport")
    path.write_bytes(path.read_bytes()[:100])
    out = programs.persistent("toy", _fn(2.0), ("toy", 2.0), (Laplace,))(*args)
    assert _same(out, _fn(2.0)(*args))
    assert path.stat().st_size > 100


def test_the_code_digest_follows_every_source_file(tmp_path, monkeypatch):
    room = tmp_path / "estimators"
    room.mkdir()
    (room / "a.py").write_text("x = 1\n")
    monkeypatch.setattr(programs, "ROOT", tmp_path)
    monkeypatch.setitem(programs._STATE, "code", None)
    d1 = programs.code_digest()
    (room / "a.py").write_text("x = 2\n")
    monkeypatch.setitem(programs._STATE, "code", None)
    d2 = programs.code_digest()
    (room / "sub").mkdir()
    (room / "sub" / "b.py").write_text("")
    monkeypatch.setitem(programs._STATE, "code", None)
    assert len({d1, d2, programs.code_digest()}) == 3
    monkeypatch.setitem(programs._STATE, "code", None)


def test_off_unless_enabled_and_switch_off_by_environment(tmp_path, monkeypatch):
    monkeypatch.setitem(programs._STATE, "dir", None)
    out = programs.persistent("toy", _fn(2.0), ("toy", 2.0), (Laplace,))(*_args())
    assert _same(out, _fn(2.0)(*_args()))
    monkeypatch.setenv("MMM_PROGRAM_STORE", "0")
    assert programs.enable(tmp_path / "p") is None and not programs.enabled()
    assert not (tmp_path / "p").exists()
