"""Plumbing shared by the three rooms: config errors, manifests, CLI error handling.

Carries no truth and no modelling; ``estimators/`` may import it.
"""
