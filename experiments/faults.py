"""Fault handling of a study run: workers that die with their parent, and stale manifests.

* :func:`start_parent_watch` runs in every worker process: a daemon thread that ends the worker
  (``os._exit``) within a second of its parent's death, so a SIGKILLed study (an out-of-memory
  kill, say) leaves no orphans writing shards.
* :func:`previous_run` reads an existing ``manifest.json``: a ``running`` status whose process
  is gone is a stale run (killed); one whose process still runs on this host is a live run.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

_WATCH = {"started": False}


def start_parent_watch(parent_pid: int | None = None, interval: float = 0.5) -> None:
    """End this process when its parent dies (once per process; idempotent).

    Args:
        parent_pid: the study's pid; default the current parent. The worker exits when the parent
            is gone or it has been re-parented.
        interval: seconds between checks.
    """
    if _WATCH["started"]:
        return
    _WATCH["started"] = True
    ppid = os.getppid()
    target = parent_pid or ppid

    def watch():
        while True:
            time.sleep(interval)
            if os.getppid() != ppid or not pid_alive(target):
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (and is not a zombie) on this host."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{int(pid)}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def owner() -> dict:
    """What a manifest records about the process writing it."""
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def previous_run(out: Path) -> dict | None:
    """The state of an earlier run in ``out``: None (no manifest, or finished), else
    ``{"state": "stale" | "live" | "unknown", "pid", "host", "started_at"}``."""
    path = Path(out) / "manifest.json"
    if not path.is_file():
        return None
    try:
        m = json.loads(path.read_text())
    except (OSError, ValueError):
        return {"state": "unknown", "pid": None, "host": None, "started_at": None}
    if m.get("status") != "running":
        return None
    run = m.get("run") or {}
    pid, host = run.get("pid"), run.get("host")
    if pid is None or host is None:
        state = "unknown"
    elif host != socket.gethostname():
        state = "unknown"            # another machine's process: cannot be checked from here
    else:
        state = "live" if pid_alive(pid) and int(pid) != os.getpid() else "stale"
    return {"state": state, "pid": pid, "host": host, "started_at": run.get("started_at")}
