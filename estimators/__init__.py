"""What a practitioner can do with observable data; never sees the truth.

Sub-rooms, in the order of the flow:

* :mod:`estimators.model`: specs, priors, observable data and its batches, the numpyro MMM;
* :mod:`estimators.inference`: MAP + Laplace, the samplers (a registry), diagnostics, the
  typed :class:`~estimators.inference.posterior.Posterior`;
* :mod:`estimators.evidence`: lift tests as evidence: calibration inputs (M1, M2), EQS and the
  strategies that choose tests (a registry);
* :mod:`estimators.decisions`: posterior analysis: response curves, counterfactual plans and
  the recommended budget.

Command lines: ``python -m estimators.fit`` and ``python -m estimators.score``.
"""
