"""What a user sees at the command line: refusals as one line with exit 2 (real subprocesses),
warnings for suspicious but legal input with a finite result, output modes from the umask, a
dataset's key from its content, and progress with an ETA that leaves compilation out."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tests.harness.runner import ROOT, invoke
from tests.harness.test_malformed_inputs import _write, base_data, base_lift, base_score


def _popen(args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    return subprocess.Popen([sys.executable, "-m", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def test_refusals_through_the_real_command_line(tmp_path):
    """Five of issue 14's failing cases as typed commands, run side by side: exit 2, one line."""
    data = base_data()
    zero = _write(data.assign(kpi="0"), tmp_path / "zero.csv")
    lift = base_lift()
    lift.loc[0, ["lift", "ci_low", "ci_high"]] = ["-1e300", "", ""]
    huge = _write(lift, tmp_path / "lift.csv")
    good = _write(data, tmp_path / "data.csv")
    cd = tmp_path / "conf" / "world"
    cd.mkdir(parents=True)
    (cd / "esc.yaml").write_text((ROOT / "conf/world/fashion.yaml").read_text().replace("name: fashion",
                                                                                       'name: "../escape"'))
    (cd / "broken.yaml").write_text("name: [unclosed\n")
    score_in = _write(base_score(), tmp_path / "tests.csv")
    cases = {
        "kpi_all_zero": (["estimators.fit", f"data={zero}", f"out={tmp_path / 'o1'}"], "'kpi'"),
        "lift_-1e300": (["estimators.fit", f"data={good}", f"lift_tests={huge}", "calibration=m2",
                         f"out={tmp_path / 'o2'}"], "row 2, field 'lift'"),
        "world_escape": (["simulate", "--config-dir", str(tmp_path / "conf"), "world=esc",
                          f"out={tmp_path / 'o3'}"], "field 'world.name'"),
        "yaml_syntax": (["simulate", "--config-dir", str(tmp_path / "conf"), "world=broken",
                         f"out={tmp_path / 'o4'}"], "YAML syntax error"),
        "score_out_folder": (["estimators.score", f"experiments={score_in}", f"out={tmp_path}"], "is a folder"),
    }
    procs = {k: _popen(a, tmp_path) for k, (a, _) in cases.items()}
    for name, p in procs.items():
        out, err = p.communicate(timeout=300)
        lines = [l for l in err.splitlines() if l.strip()]
        assert p.returncode == 2, (name, err[-1500:])
        assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, (name, err)
        assert cases[name][1] in lines[0], (name, lines[0])
    assert not (tmp_path / "escape").exists() and not (tmp_path.parent / "escape").exists()


@pytest.mark.slow  # moved out of the default suite to keep make test well under 10 min
def test_suspicious_input_warns_and_fits(tmp_path):
    """A channel with almost no spend (3 weeks of it) warns, naming the column, and the fit ends
    with finite summaries; the warning is also kept in diagnostics.json."""
    data = base_data()
    tiny = np.zeros(len(data))
    tiny[[5, 20, 40]] = 1.0
    data["spend_tv"] = tiny.astype(str)
    dp = _write(data, tmp_path / "data.csv")
    status, lines, out = invoke("fit", [f"data={dp}", "inference=fast", f"out={tmp_path / 'fit'}"])
    assert status == 0, lines
    warnings = [l for l in lines if l.startswith("warning:")]
    assert len(warnings) == 1 and "field 'spend_tv'" in warnings[0] and "almost no spend" in warnings[0]
    table = pd.read_csv(out / "posterior_summary.csv")
    assert np.isfinite(table.select_dtypes("number").to_numpy()).all()
    assert json.loads((out / "diagnostics.json").read_text())["warnings"] == [warnings[0][len("warning: "):]]


@pytest.mark.slow
def test_unconverged_map_warns(tmp_path):
    """One Adam step and no Newton steps leave the MAP far from converged: a warning with the
    gradient norm (issue 14: a norm of 50,292 passed silently)."""
    dp = _write(base_data(), tmp_path / "data.csv")
    status, lines, _ = invoke("fit", [f"data={dp}", "inference=fast", "inference.adam_steps=1",
                                      "inference.newton_steps=0", f"out={tmp_path / 'fit'}"])
    assert status == 0, lines
    assert any(l.startswith("warning: MAP did not converge (gradient norm") for l in lines), lines


def test_same_data_in_two_folders_gives_identical_fits(tmp_path):
    """The PRNG key of a dataset comes from its content, not from its folder's name."""
    outs = []
    for folder in ("shop_a", "elsewhere/shop_b"):
        d = tmp_path / folder
        d.mkdir(parents=True)
        dp = _write(base_data(), d / "data.csv")
        status, lines, out = invoke("fit", [f"data={dp}", "inference=fast", f"out={d / 'fit'}"])
        assert status == 0, lines
        outs.append(out)
    a, b = ((o / "posterior_summary.csv").read_text() for o in outs)
    assert a == b
    assert not (outs[0] / "posterior.nc").exists()          # draws are saved only with save_draws=true
    ids = {json.loads((o / "diagnostics.json").read_text())["dataset_id"] for o in outs}
    assert len(ids) == 1 and ids.pop().startswith("data-")


def test_a_different_dataset_gets_a_different_id(tmp_path):
    from estimators.model.data import read_data_csv

    d = base_data()
    a = read_data_csv(_write(d, tmp_path / "a.csv")).dataset_id
    d.loc[3, "kpi"] = str(float(d.loc[3, "kpi"]) + 1)
    assert read_data_csv(_write(d, tmp_path / "b.csv")).dataset_id != a


@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_files_get_the_users_umask(tmp_path, mask, mode):
    from harness.manifest import atomic_write_text, atomic_write_with

    old = os.umask(mask)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        atomic_write_with(tmp_path / "b.bin", lambda p: p.write_bytes(b"y"))
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == mode
    assert (tmp_path / "b.bin").stat().st_mode & 0o777 == mode


def test_eta_leaves_the_first_unit_out(monkeypatch):
    """Started at t = 100; the first unit ends at t = 160 (60 s, mostly compilation), then 2 s per
    unit: the ETA uses only the 2 s units, e.g. after 3 of 10 units 7 x 2 s = 14 s, not 7 x 21 s."""
    from harness import progress as P

    clock = iter([160.0, 162.0, 164.0])
    monkeypatch.setattr(P.time, "time", lambda: next(clock))
    monkeypatch.setenv("MMM_PROGRESS", "0")
    bar = P.Progress(10, "test")
    bar.add()
    assert bar.eta is None                      # nothing to go on but the compiling unit
    bar.add()
    assert bar.eta == pytest.approx(2.0 * 8)
    bar.add()
    assert bar.eta == pytest.approx(2.0 * 7)


@pytest.mark.parametrize("app", ["fit", "score", "simulate", "study"])
def test_a_read_only_output_folder_is_refused_before_any_work(tmp_path, monkeypatch, app):
    """The suite runs as root, for whom chmod does not make a folder read-only, so the refusal of
    the filesystem is simulated: creating the probe file raises EACCES. Every app stops with one
    line before it reads its input (the input path does not even exist)."""
    import harness.validate.paths as paths

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(paths.tempfile, "mkstemp", denied)
    out = tmp_path / "ro"
    args = {"fit": [f"data={tmp_path / 'missing.csv'}", f"out={out}"],
            "score": [f"experiments={tmp_path / 'missing.csv'}", f"out={out / 's.csv'}"],
            "simulate": [f"out={out}", "n_datasets=1"],
            "study": ["inference=fast", f"out={out}"]}[app]
    status, lines, _ = invoke(app, args)
    assert status == 2 and len(lines) == 1, lines
    assert lines[0].startswith("error: out: cannot write to") and "Permission denied" in lines[0], lines
