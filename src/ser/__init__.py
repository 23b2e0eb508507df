"""Speech emotion recognition: a small library behind a reproducible DVC pipeline."""
