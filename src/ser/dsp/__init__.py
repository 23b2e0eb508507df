"""Signal-processing primitives in plain numpy: framing, short-time spectra, frequency scales and filter banks."""
