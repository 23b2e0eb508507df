"""Daily use of a trained model, each through the real `ser` command or a fresh interpreter: a demo model says so
everywhere, `ser info`, `ser report` on `ser predict` output, the docs' Python examples on good and bad files,
folders of every audio suffix, no empty table, `ser serve` refusing a port before it loads the model."""

from __future__ import annotations

import csv
import io
import json
import re
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import soundfile as sf
import soxr

import ser
from ser.corpus.conventions import AUDIO_SUFFIXES, parse_ravdess
from ser.files import sha256_of
from ser.inference.bundle import DEMO_WARNING, copy_bundle, read_info, read_record
from ser.modeling.metrics import summary_scores
from tests.bundles import complete_bundle, rewrite_info, train_bundle
from tests.conftest import PROJECT, assert_one_line


def ser_command(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ser", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd
    )


@pytest.fixture(scope="module")
def bundles(speech16k, tmp_path_factory) -> dict[str, Path]:
    """A model trained on actors 01-04 of a folder corpus, and the same model as if trained on the demo corpus."""
    root = tmp_path_factory.mktemp("daily")
    trained = train_bundle(speech16k, root / "trained")
    return {
        "real": complete_bundle(trained, root / "real", demo=False),
        "demo": complete_bundle(trained, root / "demo", demo=True),
    }


@pytest.fixture(scope="module")
def unheard(speech16k) -> list[Path]:
    """Recordings of actors 05 and 06, whom the model never heard, of its three emotions and of others."""
    return sorted(speech16k.glob("Actor_0[56]/03-01-0[1-8]-01-01-01-*.wav"))


# ---- The demo model says so ------------------------------------------------------------------------------------


def test_ser_predict_warns_in_one_line_exactly_for_the_demo_model(bundles, unheard):
    runs = {name: ser_command("predict", "--model", str(path), str(unheard[0])) for name, path in bundles.items()}
    assert all(run.returncode == 0 for run in runs.values()), {name: run.stderr for name, run in runs.items()}
    assert [line for line in runs["demo"].stderr.splitlines() if DEMO_WARNING in line] == [f"warning: {DEMO_WARNING}"]
    assert DEMO_WARNING not in runs["real"].stderr
    assert runs["demo"].stdout == runs["real"].stdout  # the same model: only the warning differs


def test_the_api_warns_and_the_record_knows(bundles):
    with pytest.warns(ser.DemoModelWarning):
        demo = ser.load(str(bundles["demo"]))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ser.DemoModelWarning)
        real = ser.load(str(bundles["real"]))
    assert (demo.record.data.demo, real.record.data.demo) == (True, False)
    assert read_info(bundles["demo"])["data"]["demo"] is True  # model.json, which GET /model serves, says it
    card = (bundles["demo"] / "MODEL_CARD.md").read_text()
    assert DEMO_WARNING in card.split("## Intended use")[0]  # before anything else
    assert DEMO_WARNING not in (bundles["real"] / "MODEL_CARD.md").read_text()


def test_bundles_without_the_demo_flag_load_and_a_contradicting_one_is_refused(bundles, tmp_path):
    old = tmp_path / "old"
    copy_bundle(bundles["demo"], old, read_record(bundles["demo"]))
    rewrite_info(old, lambda info: [info["data"].pop(key) for key in ("demo", "corpus_files")])
    record = read_record(old)
    assert record.data.demo is True and record.data.corpus_files is None
    rewrite_info(old, lambda info: info["data"].update(demo=False))
    assert_one_line(str(pytest.raises(ser.SerError, read_record, old).value), "data.demo", "model.json")
    rewrite_info(old, lambda info: info["data"].update(demo=True, corpus_files=1))
    assert_one_line(str(pytest.raises(ser.SerError, read_record, old).value), "data.corpus_files")


# ---- ser info ----------------------------------------------------------------------------------------------------


def test_ser_info_describes_a_bundle_in_a_table_and_in_json(bundles):
    for name, path in bundles.items():
        table, as_json = ser_command("info", str(path)), ser_command("info", str(path), "--format", "json")
        assert table.returncode == as_json.returncode == 0, table.stderr + as_json.stderr
        info, record = json.loads(as_json.stdout), read_record(path)
        assert info["emotions"] == list(record.classes) and info["demo"] is (name == "demo")
        assert info["source"] == record.data.source and info["convention"] == "ravdess"
        assert (info["train_files"], info["corpus_files"]) == (record.data.train_files, record.data.train_files + 40)
        assert info["metrics"]["test_uar"] == 0.7 and info["metrics"]["crossval_uar_mean"] == 0.6
        assert info["sha256"]["model.skops"] == sha256_of(path / "model.skops")
        assert info["versions"] == record.versions
        assert sha256_of(path / "model.skops") in table.stdout and "0.700" in table.stdout
        assert (DEMO_WARNING in table.stderr) is (name == "demo")


def test_ser_info_names_the_copies_a_model_trained_beside(bundles, tmp_path):
    copied = tmp_path / "copied"
    copy_bundle(bundles["real"], copied, read_record(bundles["real"]))
    assert json.loads(ser_command("info", str(copied), "--format", "json").stdout)["copies"] == []
    rewrite_info(copied, lambda info: info["data"].update(copies=["phone 3400", "reverb 0.5"]))
    table, as_json = ser_command("info", str(copied)), ser_command("info", str(copied), "--format", "json")
    assert json.loads(as_json.stdout)["copies"] == ["phone 3400", "reverb 0.5"]
    assert "phone 3400, reverb 0.5" in table.stdout


def test_ser_info_refuses_a_damaged_bundle_in_one_line(bundles, tmp_path):
    damaged = tmp_path / "damaged"
    copy_bundle(bundles["real"], damaged, read_record(bundles["real"]))
    (damaged / "model.skops").write_bytes(b"not a model")
    run = ser_command("info", str(damaged))
    assert run.returncode == 2 and run.stdout == ""
    assert_one_line(run.stderr, str(damaged / "model.skops"))


# ---- ser report on ser predict output ------------------------------------------------------------------------------


def test_ser_report_scores_a_predict_csv_by_the_file_names_or_a_column(bundles, unheard, tmp_path):
    predicted = ser_command("predict", "--model", str(bundles["real"]), "--format", "csv", *map(str, unheard))
    assert predicted.returncode == 0, predicted.stderr
    rows = list(csv.DictReader(io.StringIO(predicted.stdout)))
    truth = [parse_ravdess(Path(row["file"])) for row in rows]
    actual, guessed = [t["emotion"] for t in truth], [row["emotion"] for row in rows]
    scores = summary_scores(actual, guessed)
    path = tmp_path / "predicted.csv"
    path.write_text(predicted.stdout)
    by_names = ser_command("report", str(path), "--convention", "ravdess")
    assert by_names.returncode == 0, by_names.stderr
    first = re.match(r"(\d+) files, (\d+) speakers: accuracy ([\d.]+), UAR ([\d.]+)", by_names.stdout)
    assert first and (int(first[1]), int(first[2])) == (len(rows), 2)
    assert float(first[4]) == pytest.approx(scores["uar"], abs=5e-4)
    assert float(first[3]) == pytest.approx(sum(a == g for a, g in zip(actual, guessed)) / len(rows), abs=5e-4)
    labelled = tmp_path / "labelled.csv"
    with open(labelled, "w", newline="") as out:
        writer = csv.DictWriter(out, [*rows[0], "truth", "speaker"])
        writer.writeheader()
        writer.writerows({**row, "truth": t["emotion"], "speaker": t["speaker"]} for row, t in zip(rows, truth))
    by_column = ser_command("report", str(labelled), "--actual-column", "truth")
    assert by_column.returncode == 0 and by_column.stdout == by_names.stdout, by_column.stderr
    unlabelled = ser_command("report", str(path))
    assert unlabelled.returncode == 2 and unlabelled.stdout == ""
    assert_one_line(unlabelled.stderr, str(path), "--convention", "--actual-column")
    wrong = ser_command("report", str(path), "--convention", "emodb")
    assert wrong.returncode == 2
    assert_one_line(wrong.stderr, str(path), "line 2", rows[0]["file"])


# ---- The docs' Python examples, as written, on good and bad files -------------------------------------------------


def python_examples() -> list[tuple[str, str]]:
    """Every ```python block of README.md and docs/*.md that loads a model, with where it comes from."""
    found = []
    for page in [PROJECT / "README.md", *sorted((PROJECT / "docs").glob("*.md"))]:
        for n, block in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(), re.DOTALL)):
            if "ser.load(" in block:
                found.append((f"{page.relative_to(PROJECT)}#{n}", block))
    return found


EXAMPLES = python_examples()


def test_the_docs_have_python_examples():
    assert {where.split("#")[0] for where, _ in EXAMPLES} >= {"README.md", "docs/predict.md", "docs/timeline.md"}


@pytest.mark.parametrize("where,code", EXAMPLES, ids=[where for where, _ in EXAMPLES])
def test_a_python_example_runs_as_written_on_a_good_and_a_bad_file(where, code, bundles, unheard, tmp_path):
    names = re.findall(r"\"([\w.-]+\.wav)\"", code)
    assert names, f"{where} names no audio file"
    (tmp_path / "model").symlink_to(bundles["real"])
    good, bad = names[0], names[-1] if len(names) > 1 else None
    for name in names:
        (tmp_path / name).write_bytes(unheard[0].read_bytes() if name == good else b"not audio")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)]
    if bad is None:  # one file: then the same example with that file broken
        (tmp_path / good).write_bytes(b"not audio")
        runs.append(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path))
    for run in runs:
        assert run.returncode == 0, f"{where}:\n{run.stderr}"
        assert "Traceback" not in run.stderr and run.stdout.strip(), f"{where} printed nothing:\n{run.stderr}"
    printed = "".join(run.stdout for run in runs)
    assert "not readable audio" in printed  # the bad file's record or message, printed like the good one's


# ---- Folders, failures, ports -------------------------------------------------------------------------------------

FORMATS = {  # how soundfile writes a file of each suffix
    ".wav": {},
    ".flac": {},
    ".ogg": {},
    ".oga": {"format": "OGG"},
    ".opus": {"format": "OGG", "subtype": "OPUS", "samplerate": 48000},
    ".mp3": {"format": "MP3"},
    ".aiff": {},
    ".aif": {"format": "AIFF"},
    ".aifc": {"format": "AIFF"},
    ".au": {},
    ".snd": {"format": "AU"},
    ".caf": {},
    ".w64": {},
    ".rf64": {},
}


def test_a_folder_gives_every_suffix_a_file_argument_takes(bundles, unheard, tmp_path):
    assert set(FORMATS) == set(AUDIO_SUFFIXES)
    samples, rate = sf.read(unheard[0], dtype="float32")
    folder = tmp_path / "mixed"
    folder.mkdir()
    for n, (suffix, options) in enumerate(FORMATS.items()):
        options = dict(options)
        rate_here = options.pop("samplerate", rate)
        audio = soxr.resample(samples, rate, rate_here) if rate_here != rate else samples
        name = f"03-01-01-01-01-{n + 1:02d}-05{suffix.upper() if n % 2 else suffix}"  # a suffix in any case
        sf.write(folder / name, audio, rate_here, **options)
    run = ser_command("predict", "--model", str(bundles["real"]), "--format", "json", str(folder))
    assert run.returncode == 0, run.stderr
    assert sorted(Path(json.loads(line)["file"]).name for line in run.stdout.splitlines()) == sorted(
        path.name for path in folder.iterdir()
    )


@pytest.mark.parametrize("command,form", [("predict", "table"), ("predict", "csv"), ("timeline", "table")])
def test_when_every_file_fails_stdout_stays_empty(bundles, tmp_path, command, form):
    broken = [tmp_path / "a.wav", tmp_path / "b.wav"]
    for path in broken:
        path.write_bytes(b"not audio")
    run = ser_command(command, "--model", str(bundles["real"]), "--format", form, *map(str, broken))
    assert run.returncode == 1 and run.stdout == ""
    assert all(str(path) in run.stderr for path in broken)


def test_ser_serve_refuses_a_port_before_it_loads_the_model(bundles):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for given in ("99999", str(port)):
            started = time.monotonic()
            run = ser_command("serve", "--model", str(bundles["demo"]), "--port", given, timeout=60)
            assert run.returncode == 2 and run.stdout == "", run.stderr
            assert_one_line(run.stderr, given)
            assert DEMO_WARNING not in run.stderr  # refused before the model was read
            assert time.monotonic() - started < 30
