"""Experiment evidence: lift tests as calibration inputs (M1, M2), EQS scores and the strategies."""
