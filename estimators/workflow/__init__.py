"""The practitioner's workflow (``python -m estimators.calibrate``) in small steps: which tests are
eligible and used (and why), and the comparison of the baseline with the calibrated fit."""
