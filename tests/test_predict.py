"""`ser predict` as a user runs it: real processes, a real bundle, real and broken audio files."""

from __future__ import annotations

import csv
import io
import json
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ser.corpus.audio import load_audio
from ser.features.extractor import FeatureExtractor
from ser.inference.bundle import load_bundle, read_info, write_info
from tests.audiofiles import bad_audio_files
from tests.bundles import train_bundle
from tests.conftest import assert_one_line
from tests.terminal import run_with_stderr_on_a_terminal

# Actors 05-06 never trained the bundle (it knows actors 01-04).
NEW_SPEAKER_FILES = (
    "Actor_05/03-01-01-01-01-01-05.wav",
    "Actor_05/03-01-05-01-01-01-05.wav",
    "Actor_06/03-01-08-02-02-01-06.wav",
)


@pytest.fixture(scope="module")
def bundle(speech16k, tmp_path_factory) -> Path:
    return train_bundle(speech16k, tmp_path_factory.mktemp("bundle") / "model")


@pytest.fixture(scope="module")
def corpus(speech16k, tmp_path_factory) -> Path:
    """Copies of speech files in nested folders, one with an upper-case suffix, plus a non-audio file."""
    root = tmp_path_factory.mktemp("corpus")
    for name in NEW_SPEAKER_FILES:
        target = root / "recordings" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(speech16k / name, target)
    upper = root / "recordings" / "deeper" / "more" / "SHOUT.WAV"
    upper.parent.mkdir(parents=True)
    shutil.copyfile(speech16k / "Actor_06/03-01-05-02-01-01-06.wav", upper)
    (root / "recordings" / "notes.txt").write_text("not audio")
    return root


SER = [sys.executable, "-m", "ser"]


def run_ser(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*SER, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def expected_probabilities(bundle: Path, path: Path) -> np.ndarray:
    """What the bundle's model gives for ``path`` with the bundle's own configuration, computed here."""
    model, record = load_bundle(bundle)
    extractor = FeatureExtractor(record.features, record.audio.sample_rate)
    vector = dict(zip(extractor.names, extractor(load_audio(path, record.audio.sample_rate))))
    return model.predict_proba(np.array([[vector[c] for c in record.feature_columns]]))[0]


def test_json_lines_follow_the_bundle_not_params_yaml(bundle, corpus, tmp_path):
    # A params.yaml in the working directory that disagrees with the bundle in every audio/feature key.
    (tmp_path / "params.yaml").write_text((Path(__file__).parents[1] / "params.yaml").read_text())
    folder = corpus / "recordings"
    run = run_ser("predict", "--model", str(bundle), "--format", "json", str(folder), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    records = [json.loads(line) for line in run.stdout.splitlines()]
    paths = [r["file"] for r in records]
    assert paths == sorted(str(p) for p in folder.rglob("*") if p.suffix.lower() == ".wav")
    classes = list(load_bundle(bundle)[1].classes)
    for record in records:
        assert set(record) == {"file", "emotion", "probabilities"}
        assert list(record["probabilities"]) == classes
        expected = expected_probabilities(bundle, Path(record["file"]))
        np.testing.assert_allclose(list(record["probabilities"].values()), expected, atol=1e-6)
        assert record["emotion"] == classes[int(np.argmax(expected))]


def test_table_csv_and_json_agree(bundle, corpus):
    files = [str(corpus / "recordings" / name) for name in NEW_SPEAKER_FILES]
    outputs = {
        fmt: run_ser("predict", "--model", str(bundle), "--format", fmt, *files) for fmt in ("table", "csv", "json")
    }
    for fmt, run in outputs.items():
        assert run.returncode == 0 and run.stderr == "", (fmt, run.stderr)
    records = [json.loads(line) for line in outputs["json"].stdout.splitlines()]
    classes = list(records[0]["probabilities"])

    rows = list(csv.reader(io.StringIO(outputs["csv"].stdout)))
    assert rows[0] == ["file", "emotion", *classes]
    assert [row[:2] for row in rows[1:]] == [[r["file"], r["emotion"]] for r in records]
    for row, record in zip(rows[1:], records):
        np.testing.assert_allclose([float(v) for v in row[2:]], list(record["probabilities"].values()), atol=1e-6)

    table = outputs["table"].stdout.splitlines()
    assert table[0].split() == ["file", "emotion", *classes]
    assert len(table) == 1 + len(files)
    for line, record in zip(table[1:], records):
        path, emotion, *probabilities = line.split()
        assert (path, emotion) == (record["file"], record["emotion"])
        np.testing.assert_allclose([float(p) for p in probabilities], list(record["probabilities"].values()), atol=5e-4)
    # the probability columns line up under their headers
    assert len({len(line) for line in table}) == 1


@pytest.mark.real_speech
def test_48khz_stereo_files_are_downmixed_and_resampled_like_the_16khz_copies(bundle, ravdess48k, ravdess16k):
    """The 16 kHz copies were made from these files by the same steps, channels averaged then soxr HQ, and stored
    as 16-bit PCM (../shared/data/README.md). Decoded at 16 kHz the two then differ by that requantisation alone,
    under one 16-bit step (measured: 0.99997 of a step at most, 0.5 on average: truncation); half a step more
    allows for float32 rounding. Summing the channels instead of averaging them is off by about 1,000 steps (the
    stereo files' two channels are equal, so only the mix's scale can go wrong here), soxr's low quality by 50 or
    more. At the bundle's 8 kHz the originals take one resampling and the copies two, which moves the probabilities
    a little (measured with tests/bundles.py's model: 0.0054 at most on these five files); 0.01 allows for that."""
    originals = sorted(ravdess48k.glob("*.wav"))
    assert any(sf.info(p).channels == 2 for p in originals)
    copies = [ravdess16k / f"Actor_{p.stem[-2:]}" / p.name for p in originals]
    for original, copy in zip(originals, copies):
        ours, theirs = load_audio(original, 16000), load_audio(copy, 16000)
        assert len(ours) == len(theirs), original
        assert np.abs(ours - theirs).max() <= 1.5 * 2**-15, original
    predicted = []
    for files in (originals, copies):
        run = run_ser("predict", "--model", str(bundle), "--format", "json", *map(str, files))
        assert run.returncode == 0, run.stderr
        predicted.append([json.loads(line) for line in run.stdout.splitlines()])
    ours, theirs = predicted
    assert [r["emotion"] for r in ours] == [r["emotion"] for r in theirs]
    np.testing.assert_allclose(
        [list(r["probabilities"].values()) for r in ours],
        [list(r["probabilities"].values()) for r in theirs],
        atol=0.01,
    )


# What ser predict says of each kind of bad file, after its path (the bundle decodes at 8 kHz).
BAD_FILE_REASONS = {
    "empty": "is empty (0 bytes); give a readable audio file",
    "not audio": "is not readable audio",
    "cut header": "is not readable audio",
    "silent": "is silent (peak below -80 dBFS); give a recording with audible speech",
    "absurd header": "has a header claiming 68,719,476,735 samples in 2,521 bytes (more than 4,096 per byte): it is "
    "damaged or forged; give a readable audio file",
    "too long": "is longer than the 300 s limit (301.0 s): split it into shorter recordings, or raise --max-seconds",
    "shorter than a frame": (
        "is too short: 80 samples at 8000 Hz, fewer than one analysis frame (512); give a longer recording"
    ),
    "NaN samples": "contains NaN or infinite samples; give a readable audio file",
    "folder": "is a directory, not an audio file; give the audio files inside it",
    "broken link": "is a broken link; check the path",
}


def make_bad_files(folder: Path, speech16k: Path) -> dict[Path, str]:
    """Broken inputs: one file of each kind of bad audio, a folder and a broken link named .wav; path -> reason."""
    bad = bad_audio_files(folder, speech16k / NEW_SPEAKER_FILES[0])
    bad["folder"] = folder / "folder.wav"
    bad["folder"].mkdir()
    bad["broken link"] = folder / "broken_link.wav"
    bad["broken link"].symlink_to(folder / "gone.wav")
    return {path: BAD_FILE_REASONS[kind] for kind, path in bad.items()}


def test_bad_files_are_reported_and_good_files_still_printed(bundle, speech16k, tmp_path):
    bad = tmp_path / "bad"
    reasons = make_bad_files(bad, speech16k)
    empty_folder = tmp_path / "nothing_here"
    empty_folder.mkdir()
    good = [str(speech16k / name) for name in NEW_SPEAKER_FILES]
    missing = str(tmp_path / "missing.wav")
    run = run_ser(
        "predict",
        "--model",
        str(bundle),
        "--format",
        "json",
        good[0],
        str(bad),
        missing,
        str(empty_folder),
        good[1],
        good[2],
    )
    assert run.returncode == 1
    assert [json.loads(line)["file"] for line in run.stdout.splitlines()] == good
    errors = run.stderr.strip().splitlines()
    assert all(line.startswith("error: ") for line in errors)
    for path, reason in reasons.items():
        matching = [line for line in errors if line.startswith(f"error: {path} ")]
        assert len(matching) == 1 and reason in matching[0], (path, run.stderr)
    assert f"error: {missing} does not exist; check the path" in errors
    assert any(line.startswith(f"error: {empty_folder} holds no audio files") for line in errors)
    assert (
        errors[-1]
        == f"error: {len(reasons) + 2} path(s) could not be predicted (reasons above); 3 file(s) were predicted"
    )
    assert len(errors) == len(reasons) + 3


def test_a_file_given_twice_is_predicted_once(bundle, corpus):
    folder = corpus / "recordings"
    one = str(folder / NEW_SPEAKER_FILES[0])
    run = run_ser("predict", "--model", str(bundle), "--format", "csv", one, str(folder), one)
    assert run.returncode == 0, run.stderr
    paths = [row[0] for row in csv.reader(io.StringIO(run.stdout))][1:]
    assert len(paths) == len(set(paths)) == 4 and paths[0] == one


def test_a_missing_bundle_is_one_line_naming_the_fix(tmp_path, speech16k):
    run = run_ser("predict", str(speech16k / NEW_SPEAKER_FILES[0]), cwd=tmp_path)
    assert run.returncode == 2 and run.stdout == ""
    assert_one_line(run.stderr, "error: ", "model", "not found", "dvc repro", "--model")


def test_bad_usage_exits_2():
    assert run_ser("predict").returncode == 2
    assert run_ser("predict", "x.wav", "--format", "yaml").returncode == 2
    run = run_ser("--help")
    assert run.returncode == 0 and "predict" in run.stdout and "explore" in run.stdout


PROBE = """
import json, sys
from ser.cli import main
code = main(sys.argv[1:])
from threadpoolctl import threadpool_info
threads = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
print(json.dumps({"code": code, "modules": sorted(sys.modules), "blas_threads": threads}), file=sys.stderr)
"""


@pytest.fixture(scope="module")
def probe(bundle, speech16k) -> dict:
    """What a `ser predict` process imported, and its BLAS thread counts, after predicting one file."""
    run = subprocess.run(
        [sys.executable, "-c", PROBE, "predict", "--model", str(bundle), str(speech16k / NEW_SPEAKER_FILES[0])],
        capture_output=True,
        text=True,
    )
    report = json.loads(run.stderr.strip().splitlines()[-1])
    assert report["code"] == 0
    return report


# Imported by nothing predicting needs: the model is read as arrays (ser.inference.fitted), so neither scikit-learn
# nor skops (which imports every scikit-learn module to list the estimators it trusts by default, and with them
# pandas and dask's array API shim).
TRAINING_ONLY = {
    "sklearn",
    "skops",
    "pandas",
    "dask",
    "matplotlib",
    "librosa",
    "numba",
    "dvc",
    "distributed",
    "ser.reports.figures",
    "ser.reports.explore",
    "ser.features.batch",
    "ser.modeling.model",
    "ser.modeling.metrics",
    "ser.modeling.crossval",
    "ser.corpus.ingest",
    "ser.corpus.demo",
    "ser.modeling.split",
    "ser.features.table",
    "ser.stagekit",
}


def test_predict_imports_no_plotting_pipeline_or_training_modules(probe):
    modules = set(probe["modules"])
    assert {"ser.inference.predictor", "ser.inference.fitted"} <= modules  # the probe did predict, from arrays
    assert modules.isdisjoint(TRAINING_ONLY)


def test_predict_runs_blas_on_one_thread(probe):
    # per-file matrices are small; more threads only wait for each other (see bench/predict.py)
    assert probe["blas_threads"] and set(probe["blas_threads"]) == {1}


def test_progress_on_a_terminal_only_and_never_on_stdout(bundle, speech16k):
    files = [str(p) for p in sorted((speech16k / "Actor_05").glob("*.wav"))[:6]]
    quiet_pipe = run_ser("predict", "--model", str(bundle), "--format", "csv", *files)
    assert quiet_pipe.returncode == 0 and quiet_pipe.stderr == ""  # stderr not a terminal: no bar
    code, stdout, terminal = run_with_stderr_on_a_terminal(
        SER + ["predict", "--model", str(bundle), "--format", "csv", *files]
    )
    assert code == 0 and "predict:" in terminal and f"0/{len(files)} " in terminal  # a bar counting the files
    assert stdout == quiet_pipe.stdout  # results unchanged
    code, stdout, terminal = run_with_stderr_on_a_terminal(
        SER + ["predict", "--quiet", "--model", str(bundle), "--format", "csv", *files]
    )
    assert code == 0 and terminal == "" and stdout == quiet_pipe.stdout


def failure_of(path, stderr: str) -> str:
    """The lines of ser predict's stderr that name ``path``: its failure."""
    return "\n".join(line for line in stderr.splitlines() if str(path) in line)


def test_the_bundles_audio_max_seconds_bounds_recordings_and_max_seconds_overrides_it(bundle, speech16k, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(bundle, copy)
    info = read_info(copy)
    write_info(copy, {**info, "audio": {**info["audio"], "max_seconds": 10}})  # as the train stage records it
    good = str(speech16k / NEW_SPEAKER_FILES[0])
    long = tmp_path / "long.flac"  # speech: a recording without any is refused for that instead
    sf.write(long, np.resize(load_audio(good, 16000), 20 * 16000), 16000)
    run = run_ser("predict", "--model", str(copy), "--format", "json", good, str(long))
    assert run.returncode == 1 and [json.loads(line)["file"] for line in run.stdout.splitlines()] == [good]
    assert_one_line(failure_of(long, run.stderr), "error: ", "10 s", "--max-seconds")
    run = run_ser("predict", "--model", str(copy), "--format", "json", "--max-seconds", "30", good, str(long))
    assert run.returncode == 0, run.stderr
    assert [json.loads(line)["file"] for line in run.stdout.splitlines()] == [good, str(long)]


def test_a_file_too_large_for_memory_is_that_files_failure(bundle, speech16k, tmp_path):
    """Within every bound (1 GB of 16-bit WAV, a sparse file, --max-seconds raised), but not within the memory
    ser predict may use: MemoryError is that file's failure, and the other file is printed."""
    huge = tmp_path / "huge.wav"
    with sf.SoundFile(huge, "w", 16000, 1, subtype="PCM_16") as out:
        out.write(np.full(16000, 0.1))
    frames = 1 << 29  # 2 bytes each: 1 GiB of samples, 2 GiB as float32
    with open(huge, "r+b") as data:  # the RIFF and data sizes claim them; the file is a hole up to its end
        data.seek(4)
        data.write((36 + 2 * frames).to_bytes(4, "little"))
        data.seek(40)
        data.write((2 * frames).to_bytes(4, "little"))
        data.truncate(44 + 2 * frames)
    good = str(speech16k / NEW_SPEAKER_FILES[0])
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "ser",
            "predict",
            "--model",
            str(bundle),
            "--format",
            "json",
            "--max-seconds",
            "100000",
            good,
            str(huge),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)),
    )
    assert run.returncode == 1, run.stderr
    assert [json.loads(line)["file"] for line in run.stdout.splitlines()] == [good]
    assert_one_line(failure_of(huge, run.stderr), "error: ", f"{frames:,} frames", "memory")
