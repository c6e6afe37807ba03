"""Output folders and names: checked before any work starts."""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from harness.errors import ConfigError

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def safe_name(value, field: str) -> str:
    """A name that becomes part of a path (a world, a dataset id): letters, digits, ``_ . -``,
    starting with a letter or digit, never ``..``; so no folder is written outside ``out=``."""
    s = str(value)
    if not SAFE_NAME.match(s) or ".." in s:
        raise ConfigError(field, f"must be a plain name (letters, digits, '_', '.', '-'; no '/' or '..'), "
                                 f"got {s!r}")
    return s


def ensure_writable_dir(path, field: str = "out") -> Path:
    """Prove that folder ``path`` can be written, before any work: a temporary file is created
    and removed in ``path`` or, when it does not exist yet, in its nearest existing ancestor
    (so a refused run leaves no folder behind). Returns ``path``.

    Raises:
        ConfigError: naming ``field`` and the reason (not a folder, permission denied, ...).
    """
    p = Path(str(path))
    if p.exists() and not p.is_dir():
        raise ConfigError(field, f"{p} exists and is not a folder")
    probe = p.absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(field, f"cannot create {p}: {probe} is a file, not a folder")
    try:
        fd, tmp = tempfile.mkstemp(dir=probe, prefix=".write-check.")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise ConfigError(field, f"cannot write to {probe} ({e.strerror or type(e).__name__})") from None
    return p


def ensure_writable_file(path, field: str = "out") -> Path:
    """An output *file* path: not an existing folder, and its folder writable."""
    p = Path(str(path))
    if p.is_dir():
        raise ConfigError(field, f"{p} is a folder; give a file path such as {p / 'scored.csv'}")
    ensure_writable_dir(p.parent if str(p.parent) else Path("."), field)
    if p.exists() and not os.access(p, os.W_OK):
        raise ConfigError(field, f"cannot write to {p} (read-only file)")
    return p
