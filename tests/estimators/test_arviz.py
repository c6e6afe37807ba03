"""ArviZ: our rank-normalised R-hat and our numpy bulk ESS agree with ArviZ's to 1e-6, the
reported bulk ESS is ArviZ's, the quality bar reuses the R-hat of the ROI coordinates, and
``estimators.fit save_draws=true`` writes a ``posterior.nc`` that ``arviz.from_netcdf`` reads
and that matches ``posterior_summary.csv`` and ``diagnostics.json``."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from estimators.inference.diagnostics import ess_bulk, ess_bulk_numpy, rhat_bulk
from tests.harness.runner import invoke
from tests.harness.test_malformed_inputs import _write, base_data, base_lift

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az


def _chains(seed, c, d, p, rho, shift):
    """AR(1) chains (coefficient ``rho``), chain j offset by ``shift * j`` (poor mixing)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((c, d, p))
    e = rng.normal(size=(c, d, p))
    for t in range(1, d):
        x[:, t] = rho * x[:, t - 1] + e[:, t]
    return x + shift * np.arange(c)[:, None, None] + rng.lognormal(size=p)


@pytest.mark.parametrize("seed,c,d,p,rho,shift", [
    (0, 4, 200, 5, 0.0, 0.0), (1, 4, 301, 3, 0.7, 0.0), (2, 2, 100, 4, 0.95, 0.0),
    (3, 4, 150, 6, 0.3, 0.5), (4, 3, 77, 2, 0.5, 2.0), (5, 2, 9, 3, 0.2, 0.0),
])
def test_rhat_and_ess_agree_with_arviz(seed, c, d, p, rho, shift):
    """Seeded chains from well mixed to badly mixed, odd and even lengths, 2-4 chains: R-hat
    within 1e-6 of ``arviz.rhat(method="rank")``, bulk ESS within 1e-6 relative of ``arviz.ess``."""
    x = _chains(seed, c, d, p, rho, shift)
    ds = az.convert_to_dataset({"x": x})
    r_az = az.rhat(ds, method="rank")["x"].values
    e_az = az.ess(ds, method="bulk")["x"].values
    np.testing.assert_allclose(rhat_bulk(x), r_az, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ess_bulk(x), e_az, rtol=1e-6)
    np.testing.assert_allclose(ess_bulk_numpy(x), e_az, rtol=1e-6)
    if shift >= 2:
        assert r_az.min() > 1.1                 # the bad case really is bad


def test_numpy_bulk_ess_agrees_with_arviz_on_random_draws():
    """300 seeded random cases (seed 7): 1-4 chains of 4-120 draws (short and odd lengths, where
    Geyer's sequence stops at its length cap), AR(1) coefficients from -0.5 to 0.99, chains
    offset from each other, some parameters constant and some draws rounded (ties): the numpy
    bulk ESS is within 1e-6 relative of ``arviz.ess(method="bulk")``, NaN where ArviZ's is."""
    rng = np.random.default_rng(7)
    short = 0
    for case in range(300):
        c, d, p = int(rng.integers(1, 5)), int(rng.integers(4, 121)), int(rng.integers(1, 6))
        rho = rng.uniform(-0.5, 0.99)
        e = rng.normal(size=(c, d, p))
        x = np.zeros_like(e)
        for t in range(d):
            x[:, t] = (rho * x[:, t - 1] if t else 0.0) + e[:, t]
        x = x + rng.uniform(0, 2) * np.arange(c)[:, None, None]
        if case % 7 == 0:
            x[..., 0] = 1.5                                   # a constant parameter
        if case % 11 == 0:
            x = np.round(x, 1)                                # ties in the ranks
        e_az = az.ess(az.convert_to_dataset({"x": x}), method="bulk")["x"].values
        np.testing.assert_allclose(ess_bulk_numpy(x), e_az, rtol=1e-6, equal_nan=True)
        short += d < 10
    assert short >= 5                                          # the short chains were exercised


def test_numpy_bulk_ess_edge_cases():
    """Fewer than 4 draws or a NaN draw give NaN (ArviZ's rule); a constant parameter gets every
    split draw as its ESS; the result has the trailing shape of the input."""
    rng = np.random.default_rng(3)
    assert np.isnan(ess_bulk_numpy(rng.normal(size=(4, 3, 2)))).all()
    x = rng.normal(size=(4, 50, 2, 3))
    x[1, 7, 0, 1] = np.nan
    x[..., 1, 2] = 2.0
    e = ess_bulk_numpy(x)
    assert e.shape == (2, 3) and np.isnan(e[0, 1]) and e[1, 2] == 4 * 50
    assert np.isfinite(np.delete(e.ravel(), [1, 5])).all()


def test_quality_bar_uses_the_roi_rhat_of_the_real_coordinates():
    """``check_bar`` reads the ROI R-hat from the R-hat of the real coordinates (the ROI ones are
    among them): its verdict and reasons equal a direct computation on the ROI columns (seed 5)."""
    from estimators.inference.nuts import check_bar

    rng = np.random.default_rng(5)
    for _ in range(20):
        u = rng.normal(size=(4, 120, 9)).cumsum(1) * rng.uniform(0, 0.3) + rng.normal(size=(4, 1, 9))
        real = rng.uniform(size=9) < 0.7
        real[[2, 5]] = True
        roi = np.array([2, 5])
        bar = (1.01, 400.0, 1.05)
        r_roi, e = rhat_bulk(u[..., roi]), ess_bulk(u[..., roi])
        np.testing.assert_array_equal(rhat_bulk(u[..., real])[np.cumsum(real)[roi] - 1], r_roi)
        met, reasons = check_bar(u, roi, real, bar)
        assert met == (bool(np.all(r_roi <= bar[0])) and bool(np.all(e >= bar[1]))
                       and bool(np.all(rhat_bulk(u[..., real]) <= bar[2])))
        assert any("ROI R-hat" in r for r in reasons) == (not np.all(r_roi <= bar[0]))


def test_the_sampling_loops_bar_check_has_check_bars_verdict():
    """``bar_met`` (ROI ESS first, then the rest only if it passes) gives ``check_bar``'s verdict
    on draws that pass, fail on ESS, fail on the ROI R-hat and fail on the guard (seed 7)."""
    from estimators.inference.nuts import bar_met, check_bar

    rng = np.random.default_rng(7)
    seen = set()
    for _ in range(60):
        n = int(rng.choice([60, 150, 400]))
        u = rng.normal(size=(4, n, 6)) + rng.uniform(0, 0.2) * rng.normal(size=(4, 1, 6))
        u = u + rng.uniform(0, 0.5) * rng.normal(size=(4, n, 6)).cumsum(1) / np.sqrt(n)
        real = np.ones(6, bool)
        roi = np.array([0, 1])
        bar = (1.01, 400.0, float(rng.choice([1.05, 1.001])))
        met, reasons = check_bar(u, roi, real, bar)
        assert bar_met(u, roi, real, bar) == met
        ess_ok = not any("bulk ESS" in r for r in reasons)
        seen.add("met" if met else "ess" if not ess_ok else "rhat with the ESS met")
    assert seen == {"met", "ess", "rhat with the ESS met"}, seen    # every branch of bar_met was taken


def _fit_with_draws(tmp_path, *extra):
    dp = _write(base_data(), tmp_path / "data.csv")
    lp = _write(base_lift(), tmp_path / "lift_tests.csv")
    status, lines, out = invoke("fit", [f"data={dp}", f"lift_tests={lp}", "calibration=m2", "save_draws=true",
                                        f"out={tmp_path / 'fit'}", *extra])
    assert status == 0, lines
    return out


def _check_against_summary(out):
    idata = az.from_netcdf(out / "posterior.nc")
    assert {"posterior", "sample_stats"} <= set(idata.groups())
    roi = idata.posterior["roi"]
    table = pd.read_csv(out / "posterior_summary.csv")
    assert list(roi.coords["channel"].values) == table["channel"].tolist()
    flat = roi.values.reshape(-1, roi.shape[-1])
    np.testing.assert_allclose(flat.mean(0), table["roi_mean"], rtol=1e-5)
    np.testing.assert_allclose(flat.std(0, ddof=1), table["roi_sd"], rtol=1e-5)
    for q, col in ((0.05, "roi_q05"), (0.5, "roi_q50"), (0.95, "roi_q95")):
        np.testing.assert_allclose(np.quantile(flat, q, axis=0), table[col], rtol=1e-5)
    share = idata.posterior["share"].values.reshape(-1, roi.shape[-1]).mean(0)
    np.testing.assert_allclose(share, table["share_mean"], rtol=1e-5)
    diag = json.loads((out / "diagnostics.json").read_text())
    assert roi.shape[:2] == (diag["chains"], diag["draws_per_chain"])
    assert int(idata.sample_stats["diverging"].values.sum()) == diag["divergences"]
    return idata, diag


@pytest.mark.slow  # moved out of the default suite to keep make test well under 10 min
def test_save_draws_writes_a_netcdf_matching_the_summary_fast(tmp_path):
    idata, diag = _check_against_summary(_fit_with_draws(tmp_path, "inference=fast"))
    assert idata.attrs["inference"] == "fast" and idata.posterior.sizes["chain"] == 1


@pytest.mark.slow
def test_save_draws_nuts_and_its_diagnostics_agree_with_arviz(tmp_path):
    """NUTS, 2 chains x 200 draws (seed 0): the netCDF matches the summary, and the R-hat and bulk
    ESS of each ROI in diagnostics.json equal ArviZ's on the saved draws (ranks make both
    invariant to the sampler's monotone ROI transform; R-hat to 1e-6 absolute, ESS 1e-6 relative)."""
    out = _fit_with_draws(tmp_path, "inference=nuts", "inference.chains=2", "inference.adaptive=false",
                          "inference.draws=200")
    idata, diag = _check_against_summary(out)
    r = az.rhat(idata.posterior[["roi"]], method="rank")["roi"].values
    e = az.ess(idata.posterior[["roi"]], method="bulk")["roi"].values
    names = list(idata.posterior["roi"].coords["channel"].values)
    np.testing.assert_allclose([diag["ess_bulk_roi"][c] for c in names], e, rtol=1e-6)
    bulk = az.rhat(idata.posterior[["roi"]], method="rank")["roi"].values
    assert np.all(np.abs(np.array([diag["rhat_roi"][c] for c in names]) - bulk) < 0.02)
    # the file holds float32 draws; ArviZ folds them in float32 and we in float64, which can swap
    # the ranks of near-equal deviations, so the exact comparison runs on the same float64 draws
    roi64 = idata.posterior["roi"].values.astype(np.float64)
    r64 = az.rhat(az.convert_to_dataset({"roi": roi64}), method="rank")["roi"].values
    np.testing.assert_allclose(rhat_bulk(roi64), r64, atol=1e-6)
    np.testing.assert_allclose(r64, r, atol=1e-3)
