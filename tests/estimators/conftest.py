"""Session-scoped fixtures: tiny shapes, one compiled program per inference method."""
from __future__ import annotations

import sys
from pathlib import Path

import jax
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness.jaxcache import enable_cache  # noqa: E402

enable_cache()

from estimators.model.spec import FitSpec, InferenceSpec, ModelSpec  # noqa: E402
from estimators.model.prior_predictive import prior_datasets  # noqa: E402
from synth import template  # noqa: E402

N_WEEKS = 104
N_TESTS = 2   # every test batch is padded to this many lift tests (one compile for none/m1/m2)


@pytest.fixture(scope="session")
def model_spec():
    return ModelSpec(n_fourier=2)


@pytest.fixture(scope="session")
def fast_spec(model_spec):
    return FitSpec(model=model_spec, inference=InferenceSpec(method="fast", laplace_draws=2000))


@pytest.fixture(scope="session")
def nuts_spec(model_spec):
    return FitSpec(model=model_spec, inference=InferenceSpec(method="nuts", chains=2, warmup=150,
                                                             draws=150))


@pytest.fixture(scope="session")
def prior_draws(fast_spec):
    """Three datasets from the model's own prior predictive (seed 11), 3 channels, 104 weeks."""
    tpl = template(5, n_weeks=N_WEEKS, n_channels=3)
    return prior_datasets(jax.random.key(11), tpl, fast_spec, 3)
