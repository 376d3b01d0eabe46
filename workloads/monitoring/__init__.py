"""Drift monitoring: compare an endpoint's captured inputs with the training baseline; publish the score."""
