"""Models and their measurement: the classifier, per-speaker normalisation, train/test split,
cross-validation and metrics."""
