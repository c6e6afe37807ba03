"""Decisions from a posterior: response curves, counterfactual plans and the recommended budget."""
