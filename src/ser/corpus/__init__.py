"""Corpora: decoding audio, naming conventions, URL and archive sources, ingest, and the synthetic demo corpus."""
