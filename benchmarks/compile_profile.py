"""XLA compilations of one command, per program: how many, how many distinct shapes, and their seconds.

    python benchmarks/compile_profile.py [--repo DIR] [--warm] [--json FILE] [--top N] -- \\
        experiments.study inference=fast jobs=1 out=$(mktemp -d)

Runs ``python -m MODULE ARGS`` in this process (so use ``jobs=1``: worker processes are not
seen) with a cold persistent compilation cache (a fresh ``MMM_JAX_CACHE`` folder, unless
``--warm``), and listens to JAX's monitoring events: the backend compile (XLA), the jaxpr trace
and the MLIR lowering, each with the program's name. The shapes of each compile come from JAX's
compile log (``Compiling NAME with global shapes and types ...``), so a program that compiles
once per distinct input shape shows ``shapes == compiles > 1``. Each compile is also attributed
to the innermost frame of the project's own code on the stack (``file:line function``), which
says which step asked for it.

Prints one row per (program, caller) sorted by compile seconds, then the totals and the
process's CPU seconds (user + system, this process and its children) and wall seconds. The
numbers are load-robust apart from the seconds: compare counts first.
"""
from __future__ import annotations

import argparse
import collections
import json
import logging
import os
import resource
import runpy
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROOMS = ("simulate", "estimators", "experiments", "common", "harness")
SKIP = ("common/blocks.py",)
EVENTS = {"/jax/core/compile/backend_compile_duration": "compile",
          "/jax/core/compile/jaxpr_trace_duration": "trace",
          "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower"}


class Recorder:
    """Per (program, caller): counts and summed seconds of each event; distinct shape signatures."""

    def __init__(self, repo: Path):
        self.repo = str(repo.resolve())
        self.rows = collections.defaultdict(lambda: collections.Counter())
        self.shapes = collections.defaultdict(set)
        self._last_shape = "?"
        self._cpu_start: dict = {}

    def on_start(self, event: str, value: float, **kw) -> None:
        """JAX records each compile's (trace's, lowering's) start as a scalar: note the process CPU time then."""
        if event in EVENTS:
            self._cpu_start.setdefault((event, str(kw.get("fun_name", "?"))), []).append(cpu_self())

    def caller(self, depth: int = 2) -> str:
        """The ``depth`` innermost frames of the project's own code on the current stack (innermost
        first; the generic block runner ``common/blocks.py`` is skipped)."""
        out = []
        for fr in reversed(traceback.extract_stack()[:-3]):
            f = fr.filename
            if f.startswith(self.repo) and any(f"/{r}/" in f for r in ROOMS) and not f.endswith(SKIP):
                out.append(f"{os.path.relpath(f, self.repo)}:{fr.lineno} {fr.name}")
                if len(out) == depth:
                    break
        return " <- ".join(out) or "?"

    def on_event(self, event: str, seconds: float, **kw) -> None:
        kind = EVENTS.get(event)
        if kind is None:
            return
        name = str(kw.get("fun_name", "?"))
        key = (name, self.caller())
        row = self.rows[key]
        row[kind + "_n"] += 1
        row[kind + "_s"] += seconds
        starts = self._cpu_start.get((event, name))
        if starts:                                  # a stack: a program's trace may nest one of the same name
            row[kind + "_cpu"] += cpu_self() - starts.pop()
        if kind == "compile":
            self.shapes[key].add(self._last_shape)
            self._last_shape = "?"

    def on_log(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg.startswith("Compiling "):
            # the module being compiled next (its name is spelled differently from the event's)
            _, _, rest = msg[len("Compiling "):].partition(" with global shapes and types ")
            self._last_shape = rest.split(". Argument mapping")[0]

    def table(self) -> list[dict]:
        out = []
        for (name, caller), c in self.rows.items():
            out.append({"program": name, "caller": caller, "compiles": c["compile_n"],
                        "shapes": len(self.shapes[(name, caller)]), "compile_s": round(c["compile_s"], 3),
                        "compile_cpu_s": round(c["compile_cpu"], 3),
                        "trace_cpu_s": round(c["trace_cpu"], 3), "lower_cpu_s": round(c["lower_cpu"], 3),
                        "traces": c["trace_n"], "trace_s": round(c["trace_s"], 3),
                        "lower_s": round(c["lower_s"], 3)})
        return sorted(out, key=lambda r: -(r["compile_s"] + r["trace_s"] + r["lower_s"]))


class _Handler(logging.Handler):
    def __init__(self, rec: Recorder):
        super().__init__(logging.DEBUG)
        self.rec = rec

    def emit(self, record):
        self.rec.on_log(record)


def install(rec: Recorder) -> None:
    """Listen to JAX's compile events and its compile log (at DEBUG, so nothing is printed)."""
    import jax.monitoring

    jax.monitoring.register_event_duration_secs_listener(rec.on_event)
    jax.monitoring.register_scalar_listener(rec.on_start)
    log = logging.getLogger("jax._src.interpreters.pxla")
    log.setLevel(logging.DEBUG)
    log.addHandler(_Handler(rec))
    log.propagate = False


def cpu_self() -> float:
    """CPU seconds of this process so far (all its threads)."""
    a = resource.getrusage(resource.RUSAGE_SELF)
    return a.ru_utime + a.ru_stime


def cpu_seconds() -> float:
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def report(rows: list[dict], cpu: float, wall: float, top: int) -> str:
    lines = [f"{'compile_s':>9} {'cpu_s':>6} {'n':>4} {'shapes':>6} {'trace_s':>8} {'lower_s':>8}  program  <- caller"]
    for r in rows[:top]:
        lines.append(f"{r['compile_s']:9.2f} {r['compile_cpu_s']:6.2f} {r['compiles']:4d} {r['shapes']:6d} {r['trace_s']:8.2f} "
                     f"{r['lower_s']:8.2f}  {r['program']}  <- {r['caller']}")
    if len(rows) > top:
        rest = rows[top:]
        lines.append(f"{sum(r['compile_s'] for r in rest):9.2f} {sum(r['compile_cpu_s'] for r in rest):6.2f} "
                     f"{sum(r['compiles'] for r in rest):4d} "
                     f"{'':6} {sum(r['trace_s'] for r in rest):8.2f} {sum(r['lower_s'] for r in rest):8.2f}"
                     f"  ({len(rest)} more rows)")
    n, s = sum(r["compiles"] for r in rows), sum(r["compile_s"] for r in rows)
    sc = sum(r["compile_cpu_s"] for r in rows)
    tc, lc = sum(r["trace_cpu_s"] for r in rows), sum(r["lower_cpu_s"] for r in rows)
    t, lo = sum(r["trace_s"] for r in rows), sum(r["lower_s"] for r in rows)
    lines.append(f"total: {n} XLA compilations, {s:.1f} s compiling ({sc:.1f} CPU s), {t:.1f} s tracing ({tc:.1f} CPU s), "
                 f"{lo:.1f} s lowering ({lc:.1f} CPU s); "
                 f"process CPU {cpu:.1f} s, wall {wall:.1f} s")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repo", default=str(ROOT), help="the checkout whose code runs (default: this one)")
    p.add_argument("--warm", action="store_true", help="keep MMM_JAX_CACHE as set (default: a fresh folder)")
    p.add_argument("--json", help="also write the rows and totals here")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--cprofile", help="also profile the command's Python (CPU-time clock) into this file")
    p.add_argument("command", nargs=argparse.REMAINDER, help="MODULE [ARGS...] (after --)")
    a = p.parse_args(argv)
    cmd = [c for c in a.command if c != "--"] if a.command[:1] == ["--"] else a.command
    if not cmd:
        p.error("give the module to run, e.g. -- experiments.study inference=fast jobs=1")
    repo = Path(a.repo).resolve()
    if not a.warm:
        os.environ["MMM_JAX_CACHE"] = tempfile.mkdtemp(prefix="jaxcache-cold-")
    os.chdir(repo)
    sys.path.insert(0, str(repo))
    rec = Recorder(repo)
    install(rec)
    t0, c0 = time.time(), cpu_seconds()
    sys.argv = [cmd[0]] + cmd[1:]
    code = 0
    prof = None
    if a.cprofile:
        import cProfile

        prof = cProfile.Profile(time.process_time)   # CPU time: robust to other load on the machine
        prof.enable()
    try:
        runpy.run_module(cmd[0], run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        if prof is not None:
            prof.disable()
            prof.dump_stats(a.cprofile)
        wall, cpu = time.time() - t0, cpu_seconds() - c0
        rows = rec.table()
        print(report(rows, cpu, wall, a.top), file=sys.stderr, flush=True)
        if a.json:
            Path(a.json).write_text(json.dumps({"command": cmd, "repo": str(repo), "cold": not a.warm,
                                                "cpu_seconds": cpu, "wall_seconds": wall,
                                                "compiles": sum(r["compiles"] for r in rows),
                                                "compile_seconds": sum(r["compile_s"] for r in rows),
                                                "compile_cpu_seconds": sum(r["compile_cpu_s"] for r in rows),
                                                "trace_cpu_seconds": sum(r["trace_cpu_s"] for r in rows),
                                                "rows": rows}, indent=1))
    return code


if __name__ == "__main__":
    sys.exit(main())
