"""The timeline's evaluation: recordings built from clips, with their truth, and emotion diarization scores."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import soundfile as sf

from ser.config import TimelineEvalParams
from ser.corpus.audio import load_audio
from ser.timeline.recordings import Clip, TruthSegment, build_recordings, speech_runs
from ser.timeline.scoring import UNCERTAIN, frame_counts

RATE = 16000
SILENCE, SPEECH = 0.5, 1.2  # seconds of each synthetic clip: silence, a loud burst, silence
FRAME = 0.025  # seconds: the trim finds a burst's edges to within one analysis frame
EMOTIONS = ("angry", "calm", "happy")
Seg = TruthSegment
SCORED = 4.5  # seconds of truth emotion scored below: 1.5 s of happy 1-3 s, 3 s of sad 4-7.5 s (collar 0.25 s)


def scores(truth, predicted, duration=10.0, collar=0.25) -> dict[str, float]:
    return frame_counts(truth, predicted, duration, collar).scores()


def test_a_perfect_prediction_scores_zero_error_and_full_uar():
    truth = [Seg(1.0, 3.0, "happy"), Seg(4.0, 7.5, "sad")]
    assert scores(truth, truth) == {
        "eder": 0.0,
        "frame_uar": 1.0,
        "missed": 0.0,
        "uncertain": 0.0,
        "false_alarm": 0.0,
        "confusion": 0.0,
        "speech_seconds": pytest.approx(SCORED),
    }


def test_a_shift_within_the_collar_costs_nothing_and_beyond_it_costs_the_excess():
    truth = [Seg(1.0, 3.0, "happy"), Seg(4.0, 7.5, "sad")]
    shifted = [Seg(s.start + 0.2, s.end + 0.2, s.emotion) for s in truth]
    assert scores(truth, shifted)["eder"] == 0.0
    late = [Seg(s.start + 0.35, s.end + 0.35, s.emotion) for s in truth]
    result = scores(truth, late)  # 0.1 s missed after each start, 0.1 s false alarm after each end
    assert result["missed"] == pytest.approx(0.2 / SCORED) and result["false_alarm"] == pytest.approx(0.2 / SCORED)
    assert result["eder"] == pytest.approx(0.4 / SCORED) and result["confusion"] == 0.0


def test_nothing_predicted_is_all_missed_and_uncertain_counts_as_nothing():
    truth = [Seg(1.0, 3.0, "happy"), Seg(4.0, 7.5, "sad")]
    for predicted, uncertain in (([], 0.0), ([Seg(0.0, 10.0, UNCERTAIN)], 1.0)):
        result = scores(truth, predicted)
        assert (result["eder"], result["missed"], result["false_alarm"], result["frame_uar"]) == (1.0, 1.0, 0.0, 0.0)
        assert result["uncertain"] == uncertain


def test_a_wrong_emotion_is_confusion_and_an_emotion_over_non_speech_a_false_alarm():
    truth = [Seg(1.0, 3.0, "happy"), Seg(4.0, 7.5, "sad")]
    result = scores(truth, [Seg(1.0, 3.0, "happy"), Seg(4.0, 7.5, "angry"), Seg(8.0, 9.0, "calm")])
    assert result["confusion"] == pytest.approx(3.0 / SCORED)  # sad's scored 3.0 s
    assert result["false_alarm"] == pytest.approx(1.0 / SCORED)  # 8-9 s, outside every collar
    assert result["missed"] == 0.0 and result["eder"] == pytest.approx(4.0 / SCORED)
    assert result["frame_uar"] == pytest.approx(0.5)


def test_frame_uar_is_the_mean_recall_of_the_truth_emotions_by_hand():
    # no collar: happy 0-4 s (400 frames), sad 5-6 s (100 frames)
    truth = [Seg(0.0, 4.0, "happy"), Seg(5.0, 6.0, "sad")]
    predicted = [Seg(0.0, 1.0, "happy"), Seg(1.0, 4.0, "sad"), Seg(5.0, 5.5, "sad"), Seg(5.5, 6.0, UNCERTAIN)]
    result = scores(truth, predicted, duration=6.0, collar=0.0)
    assert result["frame_uar"] == pytest.approx((100 / 400 + 50 / 100) / 2)
    assert result["confusion"] == pytest.approx(300 / 500) and result["missed"] == pytest.approx(50 / 500)
    assert result["uncertain"] == pytest.approx(50 / 500)


def test_recordings_add_up_by_their_frames():
    one = frame_counts([Seg(0.0, 4.0, "happy")], [], 5.0, 0.0)
    two = frame_counts([Seg(0.0, 1.0, "sad")], [Seg(0.0, 1.0, "sad")], 5.0, 0.0)
    assert (one + two).scores()["missed"] == pytest.approx(400 / 500)


def write_clip(path, seed: int, level: float = 0.3, hole: tuple[float, float] | None = None):
    """A synthetic clip: SILENCE s of faint noise, SPEECH s of a loud noise burst (silent over ``hole``, seconds
    from the burst's start, if given), SILENCE s of faint noise."""
    rng = np.random.default_rng(seed)
    quiet = int(SILENCE * RATE)
    burst = rng.uniform(-level, level, int(SPEECH * RATE))
    if hole:
        burst[int(hole[0] * RATE) : int(hole[1] * RATE)] = 0
    samples = rng.normal(0, 1e-4, 2 * quiet + int(SPEECH * RATE))
    samples[quiet : quiet + int(SPEECH * RATE)] += burst
    sf.write(path, samples.astype(np.float32), RATE)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Clip]:
    """Two speakers, three emotions, three clips each."""
    folder, clips = tmp_path_factory.mktemp("clips"), []
    for s, speaker in enumerate(("07", "11")):
        for e, emotion in enumerate(EMOTIONS):
            for take in range(3):
                path = folder / f"{speaker}-{emotion}-{take}.wav"
                write_clip(path, seed=100 * s + 10 * e + take)
                clips.append(Clip(path.name, str(path), speaker, emotion))
    return clips


SETTINGS = TimelineEvalParams(
    recordings=4,
    seconds=20,
    seed=3,
    episode_seconds=(2.0, 4.0),
    gap_seconds=(0.5, 2.0),
    pause_seconds=(0.05, 0.25),
    noise_dbfs=-60,
)


def test_trimming_keeps_the_burst_and_drops_the_silence(tmp_path):
    write_clip(tmp_path / "clip.wav", seed=1)
    [(start, stop)] = speech_runs(load_audio(tmp_path / "clip.wav", RATE), RATE)
    assert abs(start / RATE - SILENCE) <= FRAME and abs(stop / RATE - SILENCE - SPEECH) <= FRAME


def test_a_silence_inside_a_clip_splits_its_speech_only_when_long(tmp_path):
    for hole, runs in (((0.4, 0.6), 1), ((0.4, 0.9), 2)):
        write_clip(tmp_path / "clip.wav", seed=2, hole=hole)
        found = speech_runs(load_audio(tmp_path / "clip.wav", RATE), RATE)
        assert len(found) == runs, (hole, found)
    (_, first_stop), (second_start, _) = found
    assert abs(first_stop / RATE - SILENCE - 0.4) <= FRAME and abs(second_start / RATE - SILENCE - 0.9) <= FRAME


def test_a_long_silence_inside_a_clip_is_left_out_of_the_truth(tmp_path):
    """A clip's silence of 0.5 s is a hole in its episode's truth; the recording's samples hold it as placed."""
    write_clip(tmp_path / "holed.wav", seed=3, hole=(0.4, 0.9))
    clips = [Clip("holed.wav", str(tmp_path / "holed.wav"), "01", "sad")]
    settings = dataclasses.replace(SETTINGS, recordings=1, episode_seconds=(0.5, 0.5))
    recording = next(build_recordings(clips, settings, RATE))
    first = recording.clips[0]
    assert recording.truth[0].start == first.start and recording.truth[1].end == first.end
    assert recording.truth[1].start - recording.truth[0].end == pytest.approx(0.5, abs=2 * FRAME)


def test_recordings_are_deterministic_for_a_seed_and_differ_for_another(clips):
    first, again = list(build_recordings(clips, SETTINGS, RATE)), list(build_recordings(clips, SETTINGS, RATE))
    assert [r.truth for r in first] == [r.truth for r in again]
    assert all(np.array_equal(a.samples, b.samples) for a, b in zip(first, again))
    other = list(build_recordings(clips, dataclasses.replace(SETTINGS, seed=4), RATE))
    assert [r.truth for r in other] != [r.truth for r in first]
    more = list(build_recordings(clips, dataclasses.replace(SETTINGS, recordings=6), RATE))
    assert [r.truth for r in more[:4]] == [r.truth for r in first]  # recording i does not depend on how many


def test_each_recording_is_one_speaker_in_turn_with_episodes_of_one_emotion(clips):
    speaker_of = {clip.file: clip.speaker for clip in clips}
    emotion_of = {clip.file: clip.emotion for clip in clips}
    for index, recording in enumerate(build_recordings(clips, SETTINGS, RATE)):
        assert recording.speaker == ("07", "11")[index % 2] and recording.duration == SETTINGS.seconds
        assert {speaker_of[p.file] for p in recording.clips} == {recording.speaker}
        emotions = [segment.emotion for segment in recording.truth]
        assert len(emotions) >= 3 and all(a != b for a, b in zip(emotions, emotions[1:]))
        for segment in recording.truth:
            inside = [p for p in recording.clips if segment.start <= p.start < segment.end]
            assert {emotion_of[p.file] for p in inside} == {segment.emotion}
            assert segment.end - segment.start >= SETTINGS.episode_seconds[0]


def test_truth_covers_exactly_the_clips_placed_and_gaps_hold_only_noise(clips):
    for recording in build_recordings(clips, SETTINGS, RATE):
        placed = sorted(recording.clips, key=lambda p: p.start)
        assert all(abs(p.end - p.start - SPEECH) <= 2 * FRAME for p in placed)  # each clip trimmed to its burst
        covered = []
        for segment in recording.truth:
            inside = [p for p in placed if segment.start <= p.start < segment.end]
            assert inside[0].start == segment.start and inside[-1].end == segment.end
            pauses = [b.start - a.end for a, b in zip(inside, inside[1:])]
            low, high = SETTINGS.pause_seconds
            assert all(low - 1e-3 <= pause <= high + 1e-3 for pause in pauses)
            covered += inside
        assert covered == placed
        gaps = [b.start - a.end for a, b in zip(recording.truth, recording.truth[1:])]
        assert all(SETTINGS.gap_seconds[0] - 1e-3 <= gap <= SETTINGS.gap_seconds[1] + 1e-3 for gap in gaps)
        assert recording.duration - recording.truth[-1].end >= SETTINGS.gap_seconds[0] - 1e-3
        speech = np.zeros(len(recording.samples), dtype=bool)
        for segment in recording.truth:
            speech[round(segment.start * RATE) : round(segment.end * RATE)] = True
        noise_rms = np.sqrt(np.mean(np.square(recording.samples[~speech], dtype=np.float64)))
        assert 20 * np.log10(noise_rms) == pytest.approx(SETTINGS.noise_dbfs, abs=1.0)


def band_power(samples: np.ndarray, low: float, high: float = RATE / 2) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64))) ** 2
    frequencies = np.fft.rfftfreq(len(samples), 1 / RATE)
    return float(spectrum[(frequencies >= low) & (frequencies < high)].sum())


@pytest.mark.parametrize("channel", ["phone 3400", "noise 10", "reverb 0.5"])
def test_a_channel_changes_every_recordings_sound_but_not_its_timing_or_truth(clips, channel):
    plain = list(build_recordings(clips, SETTINGS, RATE))
    through = list(build_recordings(clips, dataclasses.replace(SETTINGS, channel=channel), RATE))
    again = list(build_recordings(clips, dataclasses.replace(SETTINGS, channel=channel), RATE))
    for a, b, c in zip(plain, through, again, strict=True):
        assert (b.truth, b.clips, len(b.samples)) == (a.truth, a.clips, len(a.samples))
        assert not np.allclose(a.samples, b.samples) and np.array_equal(b.samples, c.samples)
        if channel.startswith("phone"):  # a telephone line passes 300-3,400 Hz, and nothing of the rest
            assert band_power(b.samples, 3800) < 1e-3 * band_power(a.samples, 3800)
            assert band_power(b.samples, 0, 150) < 1e-2 * band_power(a.samples, 0, 150)
            assert band_power(b.samples, 500, 3000) > 0.5 * band_power(a.samples, 500, 3000)


@pytest.mark.real_speech
def test_ravdess_clips_lose_about_a_second_of_silence_at_each_end(ravdess16k):
    leading, trailing = [], []
    for path in sorted(ravdess16k.glob("Actor_0[1-3]/*.wav"))[::6]:
        samples = load_audio(path, RATE)
        runs = speech_runs(samples, RATE)
        start, stop = runs[0][0], runs[-1][1]
        leading.append(start / RATE)
        trailing.append((len(samples) - stop) / RATE)
    assert 0.6 <= np.mean(leading) <= 1.3 and 0.6 <= np.mean(trailing) <= 1.3, (np.mean(leading), np.mean(trailing))
