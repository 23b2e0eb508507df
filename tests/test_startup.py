"""Start-up: the feature path never imports librosa or numba; importing ser changes nothing; numba's cache lands
somewhere writable."""

import json
import os
import subprocess
import sys

import pyarrow.parquet as pq
import yaml

from ser.files import sha256_of
from tests.audiofiles import copy_good_files
from tests.conftest import PROJECT
from tests.stagerun import run_stage, stage_command, stage_env


def imported_after(statement: str, env=None) -> set[str]:
    probe = f"import sys; {statement}; import json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_feature_extraction_imports_neither_librosa_nor_numba():
    modules = imported_after("import ser.features.batch")
    assert "ser.features.batch" in modules  # the probe did import it
    assert not {"librosa", "numba", "matplotlib", "sklearn"} & modules


def test_features_stage_runs_without_pandas_or_librosa(speech16k, tmp_path):
    files = sorted(speech16k.glob("Actor_01/*.wav"))[:3]
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "file,path,speaker,emotion,sha256\n" + "".join(f"{p.name},{p},01,calm,{sha256_of(p)}\n" for p in files)
    )
    result = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            str(PROJECT / "stages/features.py"),
            "--params",
            str(PROJECT / "params.yaml"),
            "--catalog",
            str(manifest),
            "--out",
            str(tmp_path / "f.parquet"),
            "--cache",
            str(tmp_path / "cache"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    modules = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    imported = {name.split(".")[0] for name in modules}
    assert "ser.features.batch" in modules  # what -X importtime reported is the stage's imports
    assert not {"pandas", "librosa", "numba", "sklearn", "matplotlib"} & imported
    assert "scipy.signal" not in modules  # a third of a second in every worker
    assert len(pq.read_table(tmp_path / "f.parquet")) == 3 and len(list((tmp_path / "cache").rglob("*.f8"))) == 3


def test_numba_cache_falls_back_to_a_writable_folder(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME", "SER_CACHE")}
    env.update(HOME="/dev/null/nohome", TMPDIR=str(tmp_path))  # a home that cannot hold a cache
    program = (
        "import os, ser.files\n"
        "ser.files.use_writable_numba_cache()\n"
        "import numba\n"
        "@numba.njit(cache=True)\n"
        "def twice(x):\n    return 2 * x\n"
        "assert twice(21) == 42\n"
        "print(os.environ['NUMBA_CACHE_DIR'])\n"
    )
    script = tmp_path / "compile_one.py"  # numba caches only functions defined in a file
    script.write_text(program)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    cache = result.stdout.strip()
    assert cache == str(tmp_path / "ser" / "numba")
    assert any(name.endswith(".nbi") for _, _, files in os.walk(cache) for name in files)


IMPORT_EVERY_MODULE = """
import importlib, json, os, pkgutil, sys
import ser
names = [m.name for m in pkgutil.walk_packages(ser.__path__, "ser.") if m.name != "ser.__main__"]
if sys.argv[1] == "list":  # the libraries that ser's modules import, outside the standard library
    for name in names:
        importlib.import_module(name)
    print(json.dumps(sorted({n.split(".")[0] for n in sys.modules} - set(sys.stdlib_module_names) - {"ser"})))
else:  # import those first, then every ser module: what does ser itself change?
    for library in json.loads(sys.argv[1]):
        try:
            importlib.import_module(library)
        except Exception:
            pass
    home = os.environ["HOME"]
    before = dict(os.environ), sorted(os.walk(home))
    for name in names:
        importlib.import_module(name)
    after = dict(os.environ), sorted(os.walk(home))
    print(json.dumps({"environment": {k: v for k, v in after[0].items() if before[0].get(k) != v},
                      "home": [str(entry) for entry in after[1] if entry not in before[1]]}))
"""


def test_importing_ser_sets_no_environment_and_writes_nothing(tmp_path):
    """No NUMBA_CACHE_DIR, no cache folder in $HOME: only the libraries ser uses may do such things."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME", "SER_CACHE")}
    env["HOME"] = str(home)
    bare = subprocess.run(
        [sys.executable, "-c", "import os, ser; print(sorted(os.environ)); print(os.listdir(os.environ['HOME']))"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout.splitlines()
    assert bare == [str(sorted(env)), "[]"]
    libraries = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERY_MODULE, "list"], capture_output=True, text=True, env=env, check=True
    ).stdout.splitlines()[-1]
    assert "numpy" in libraries
    changes = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERY_MODULE, libraries], capture_output=True, text=True, env=env, check=True
    ).stdout.splitlines()[-1]
    assert json.loads(changes) == {"environment": {}, "home": []}


def test_ingest_over_an_unchanged_corpus_imports_neither_pandas_nor_the_decoders(speech16k, tmp_path):
    """DVC runs ingest on every repro: over a corpus it has checked, it lists and stats the files and writes the
    same outputs, which needs none of the libraries that decode audio or build tables."""
    copy_good_files(speech16k, tmp_path / "corpus")
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    params["data"].update(source="corpus", emotions=["neutral", "calm"])
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    env = stage_env(SER_CACHE=str(tmp_path / "cache"))
    first = run_stage("ingest", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    outputs = [tmp_path / "data" / name for name in ("catalog.csv", "rejected.csv")] + [
        tmp_path / "metrics/ingest.json"
    ]
    written = [path.read_bytes() for path in outputs]
    python, *script = stage_command("ingest")
    again = subprocess.run([python, "-X", "importtime", *script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    modules = {line.split("|")[-1].strip() for line in again.stderr.splitlines() if line.startswith("import time:")}
    assert "ser.corpus.ingest" in modules  # what -X importtime reported is the stage's imports
    assert not {"pandas", "numpy", "soundfile", "soxr", "scipy"} & {name.split(".")[0] for name in modules}
    assert [path.read_bytes() for path in outputs] == written and len(written[0].splitlines()) > 1
