"""Emotion over time in long recordings: speech detection, windows, smoothing, segments, and their evaluation."""
