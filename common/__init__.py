"""Truth-free pieces that both rooms import: the observable records, the media transforms, the
DiD readout and the budget optimiser. ``simulate/`` and ``estimators/`` may import this package;
it imports neither of them."""
