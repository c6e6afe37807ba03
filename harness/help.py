"""``--help`` of every command: its own keys, read from its config file with their comments,
its config groups with their options, and an example."""
from __future__ import annotations

import re
import sys
from pathlib import Path

CONF = Path(__file__).resolve().parents[1] / "conf"

EXAMPLES = {
    "fit": ["python -m estimators.fit data=results/simulate/fashion-seed0/fashion-t000-r0/data.csv \\",
            "    lift_tests=results/simulate/fashion-seed0/fashion-t000-r0/lift_tests.csv calibration=m2 \\",
            "    inference=nuts save_draws=true out=fits/shop1",
            "python -m estimators.fit -m data=DATA.csv lift_tests=TESTS.csv calibration=m1,m2 out=fits  "
            "# fits/calibration=m1, fits/calibration=m2"],
    "score": ["python -m estimators.score experiments=my_tests.csv out=scored.csv eqs.tiers.gold=80"],
    "simulate": ["python -m simulate world=home_goods lift=bad n_datasets=5 n_replicates=2 seed=1 out=data/hg",
                 "python -m simulate --config-dir MYCONF world=my_shop out=data/my_shop   "
                 "# MYCONF/world/my_shop.yaml"],
    "study": ["python -m experiments.study study=quick jobs=2",
              "python -m experiments.study study=eqs_1241 jobs.engine=dask jobs.scheduler=tcp://HOST:8786",
              "python -m experiments.study -m eqs.tiers.gold=70,75,80 out=sweeps/gold   "
              "# sweeps/gold/eqs.tiers.gold=70, ..."],
}


def _keys(lines):
    """Top-level ``key: value  # comment`` entries (with nested blocks shown by their comment)."""
    out, comment_block = [], []
    for line in lines:
        if line.startswith("#"):
            comment_block.append(line.lstrip("# ").rstrip())
            continue
        m = re.match(r"^([A-Za-z_][\w]*):\s*([^#]*?)\s*(?:#\s*(.*))?$", line)
        if m and m.group(1) != "defaults":
            out.append((m.group(1), m.group(2), m.group(3) or ""))
    return out


def _groups(lines):
    out, inside = [], False
    for line in lines:
        if line.startswith("defaults:"):
            inside = True
            continue
        if inside:
            m = re.match(r"^\s+-\s+([\w@.]+):\s*(\w+)\s*(?:#\s*(.*))?$", line)
            if m:
                out.append((m.group(1), m.group(2), m.group(3) or ""))
            elif not line.startswith(" "):
                inside = False
    return out


def help_text(config_name: str, module: str, doc: str | None) -> str:
    """The help of the command ``python -m <module>`` whose config is ``conf/<config_name>.yaml``."""
    lines = (CONF / f"{config_name}.yaml").read_text().splitlines()
    head = [l.lstrip("# ").rstrip() for l in lines if l.startswith("#")]
    text = [f"usage: python -m {module} [key=value ...] [group=option ...] [-m key=a,b ...] [--config-dir DIR]",
            ""]
    if doc:
        text += [doc.strip(), ""]
    elif head:
        text += head + [""]
    keys = _keys(lines)
    if keys:
        text.append(f"keys (conf/{config_name}.yaml; ??? = required):")
        width = max(len(k) for k, _, _ in keys)
        for k, v, c in keys:
            val = v if v else "{...}"
            text.append(f"  {k:<{width}} = {val:<14} {c}".rstrip())
        text.append("")
    groups = _groups(lines)
    if groups:
        text.append("config groups (group=option; any key inside overrides as group.key=value):")
        for g, default, c in groups:
            folder = g.split("@")[0]
            name = g.split("@")[-1]
            opts = sorted(p.stem for p in (CONF / folder).glob("*.yaml"))
            text.append(f"  {name}={default}   options: {', '.join(opts)}" + (f"   ({c})" if c else ""))
            f = CONF / folder / f"{default}.yaml"
            if f.is_file():
                for k, v, kc in _keys(f.read_text().splitlines()):
                    text.append(f"      {name}.{k} = {v or '{...}'}" + (f"   {kc}" if kc else ""))
        text.append("")
    text.append("examples:")
    text += ["  " + e for e in EXAMPLES.get(config_name, [])]
    text += ["", "Bad input stops with one line 'error: <file>, row <r>, field <f>: ...' and exit status 2.",
             "Hydra's own options: --hydra-help; the composed config: --cfg job."]
    return "\n".join(text)


def maybe_print_help(config_name: str, argv) -> None:
    """Print the command's help and exit 0 when ``--help`` or ``-h`` is among ``argv``."""
    if any(a in ("--help", "-h") for a in argv):
        from harness.cli import _module_name

        main = sys.modules.get("__main__")
        doc = getattr(main, "__doc__", None)
        try:
            print(help_text(config_name, _module_name(), doc))
        except BrokenPipeError:      # piped into head: fine
            pass
        sys.exit(0)
