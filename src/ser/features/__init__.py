"""Per-file feature vectors: descriptors, feature families, the extractor, openSMILE, Whisper's encoder,
batch extraction with its cache, and the features table."""
