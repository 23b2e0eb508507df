"""The timeline's own model: training rows from windows of each clip's speech (cached per clip), its bundle in
the complete bundle's timeline folder, and the timeline labelling with it."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest
import soxr

from ser.config import AugmentParams, TimelineParams
from ser.corpus.audio import load_audio
from ser.features.extractor import FeatureExtractor
from ser.files import sha256_of
from ser.inference.bundle import BundleError, ModelRecord, WindowTraining, copy_bundle, load_bundle, save_bundle
from ser.inference.predictor import Predictor
from ser.modeling.model import train_model
from ser.timeline.runtime import timeline_of_samples
from ser.timeline.speech import SAMPLE_RATE as RATE, speech_regions
from ser.timeline.training import window_table
from ser.timeline.windows import stretches, windows_in
from tests.audiofiles import write_tone
from tests.bundles import EMOTIONS, FEATURES, SAMPLE_RATE, bundle_params, rewrite_info, train_bundle, training_files

SETTINGS = TimelineParams(window=1.0, hop=0.5)


def clips_of(paths: list[Path]) -> list[dict]:
    """Catalogue rows of RAVDESS-named files."""
    return [
        {
            "file": f"{path.parent.name}/{path.name}",
            "path": str(path),
            "speaker": path.stem.split("-")[6],
            "emotion": EMOTIONS.get(path.name.split("-")[2], "other"),
            "sha256": sha256_of(path),
        }
        for path in paths
    ]


def test_a_clips_rows_are_its_speechs_windows_then_its_speech_whole(speech16k, tmp_path):
    clips = clips_of(training_files(speech16k)[:3])
    table, copies, computed = window_table(clips, FEATURES, SAMPLE_RATE, SETTINGS, tmp_path)
    extractor = FeatureExtractor(FEATURES, SAMPLE_RATE)
    assert computed == 3 and list(table.columns) == ["file", "speaker", "emotion", "sha256", *extractor.names]
    assert list(copies.columns) == list(table.columns) and copies.empty  # no features.augment copies
    for clip in clips:
        samples = load_audio(clip["path"], RATE)
        pieces = stretches(speech_regions(samples, SETTINGS.vad))
        rows = table[table["file"] == clip["file"]]
        assert len(rows) == sum(len(windows_in(a, b, SETTINGS.window, SETTINGS.hop)) + 1 for a, b in pieces) > 1
        assert set(rows["speaker"]) == {clip["speaker"]} and set(rows["emotion"]) == {clip["emotion"]}
        start, end = pieces[-1]
        speech = samples[round(start * RATE) : round(end * RATE)]
        whole = extractor(soxr.resample(speech, RATE, SAMPLE_RATE, quality="HQ").astype(np.float32))
        np.testing.assert_allclose(rows[extractor.names].to_numpy()[-1], whole, rtol=1e-2, atol=1e-2)  # a sample apart


def test_rows_come_from_the_cache_until_a_window_setting_changes(speech16k, tmp_path):
    clips = clips_of(training_files(speech16k)[:2])
    first, _, _ = window_table(clips, FEATURES, SAMPLE_RATE, SETTINGS, tmp_path)
    again, _, computed = window_table(clips, FEATURES, SAMPLE_RATE, SETTINGS, tmp_path)
    assert computed == 0 and again.equals(first)
    other, _, computed = window_table(clips, FEATURES, SAMPLE_RATE, dataclasses.replace(SETTINGS, hop=0.25), tmp_path)
    assert computed == 2 and len(other) > len(first)


def test_a_clip_without_speech_gives_no_row(speech16k, tmp_path):
    tone = write_tone(tmp_path / "Actor_09" / "03-01-01-01-01-01-09.wav", seconds=3.0, sample_rate=RATE)
    clips = clips_of([tone, *training_files(speech16k)[:1]])
    table, _, computed = window_table(clips, FEATURES, SAMPLE_RATE, SETTINGS, tmp_path / "cache")
    assert computed == 2 and set(table["file"]) == {clips[1]["file"]}
    again, _, computed = window_table(clips, FEATURES, SAMPLE_RATE, SETTINGS, tmp_path / "cache")
    assert computed == 0 and again.equals(table)


def test_each_copy_of_a_clip_gives_rows_of_its_pseudo_speaker_cached_apart(speech16k, tmp_path):
    clips = clips_of(training_files(speech16k)[:2])
    copied = dataclasses.replace(FEATURES, augment=AugmentParams(copies=("phone 3400",)))
    table, copies, computed = window_table(clips, copied, SAMPLE_RATE, SETTINGS, tmp_path)
    plain, none, _ = window_table(clips, FEATURES, SAMPLE_RATE, SETTINGS, tmp_path)
    assert computed == 4 and table.equals(plain) and none.empty  # the same cache: the originals' rows are shared
    for clip in clips:
        rows = copies[copies["file"] == clip["file"]]
        assert set(rows["speaker"]) == {f"{clip['speaker']}~phone3400"} and set(rows["emotion"]) == {clip["emotion"]}
        assert len(rows) > 1 and set(rows["sha256"]) != {clip["sha256"]}
    columns = list(FeatureExtractor(FEATURES, SAMPLE_RATE).names)
    first = table.groupby("file")[columns].first().to_numpy()
    assert not np.allclose(copies.groupby("file")[columns].first().to_numpy(), first)  # through a telephone line
    again, copies_again, computed = window_table(clips, copied, SAMPLE_RATE, SETTINGS, tmp_path)
    assert computed == 0 and copies_again.equals(copies)


@pytest.fixture(scope="module")
def bundles(speech16k, tmp_path_factory) -> dict[str, Path]:
    """A clip model, a timeline model trained on windows of the same clips, and the complete bundle of both."""
    folder = tmp_path_factory.mktemp("bundles")
    clip_model = train_bundle(speech16k, folder / "clips", normalize="speaker")
    table, _, _ = window_table(clips_of(training_files(speech16k)), FEATURES, SAMPLE_RATE, SETTINGS, folder / "cache")
    params = dataclasses.replace(
        bundle_params(source=str(speech16k)), train=load_bundle(clip_model)[1].train, timeline=SETTINGS
    )
    columns = list(FeatureExtractor(FEATURES, SAMPLE_RATE).names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings of a deliberately small network
        model = train_model(params.train, columns, table[columns].to_numpy(), table["emotion"], table["speaker"])
    windows = WindowTraining(SETTINGS.window, SETTINGS.hop, SETTINGS.vad, len(table))
    save_bundle(folder / "windows", model, ModelRecord.from_training(model, params, table, columns, windows=windows))
    copy_bundle(clip_model, folder / "complete", load_bundle(clip_model)[1], timeline=folder / "windows")
    return {"clips": clip_model, "windows": folder / "windows", "complete": folder / "complete", "rows": len(table)}


def test_the_timeline_model_records_its_windows_and_training_clips(bundles, speech16k):
    record = load_bundle(bundles["windows"])[1]
    assert record.windows == WindowTraining(SETTINGS.window, SETTINGS.hop, SETTINGS.vad, bundles["rows"])
    assert record.data.train_files == len(training_files(speech16k)) < bundles["rows"]
    assert record.data.train_speakers == load_bundle(bundles["clips"])[1].data.train_speakers


def test_the_complete_bundles_timeline_uses_its_timeline_model(bundles, speech16k):
    complete, clips = Predictor(bundles["complete"]), Predictor(bundles["clips"])
    assert complete.timeline_model.record.windows is not None and clips.timeline_model is clips
    path = training_files(speech16k)[-1]
    samples = np.concatenate([np.zeros(RATE, np.float32), load_audio(path, RATE), np.zeros(RATE, np.float32)])
    found = timeline_of_samples(complete, samples, RATE, SETTINGS)
    assert found and found == timeline_of_samples(Predictor(bundles["windows"]), samples, RATE, SETTINGS)
    assert [s.probabilities for s in found] != [
        s.probabilities for s in timeline_of_samples(clips, samples, RATE, SETTINGS)
    ]


def test_a_timeline_model_that_does_not_fit_is_refused(bundles, tmp_path):
    copy_bundle(bundles["clips"], tmp_path / "clips_twice", load_bundle(bundles["clips"])[1], timeline=bundles["clips"])
    with pytest.raises(BundleError, match="windows"):
        _ = Predictor(tmp_path / "clips_twice").timeline_model
    copy_bundle(bundles["windows"], tmp_path / "bad", load_bundle(bundles["windows"])[1])
    rewrite_info(tmp_path / "bad", lambda info: info["windows"].update(hop=info["windows"]["window"] * 2))
    with pytest.raises(BundleError, match="hop"):
        load_bundle(tmp_path / "bad")
