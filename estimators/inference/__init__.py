"""Inference: MAP + Laplace, the sampling methods (a registry), diagnostics and the typed posterior."""
