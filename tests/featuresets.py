"""Feature params for tests (and benchmarks)."""

from ser.config import FeatureParams

# The notebook's feature set (docs/accuracy.md's overrides): time-means of 40 MFCC, 12 chroma and 128 mel bands.
NOTEBOOK_FEATURES = FeatureParams(families=("mfcc", "chroma", "mel"), stats=("mean",))
