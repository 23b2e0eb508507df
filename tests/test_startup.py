"""Start-up cost: the feature path never imports librosa or numba; numba's cache lands somewhere writable."""
import json
import os
import subprocess
import sys

from ser.files import sha256_of
from tests.conftest import PROJECT


def imported_after(statement: str, env=None) -> set[str]:
    probe = f"import sys; {statement}; import json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_feature_extraction_imports_neither_librosa_nor_numba():
    modules = imported_after("import ser.extract")
    assert {"ser.features", "ser.filters", "scipy.fft"} <= modules
    assert not {"librosa", "numba", "matplotlib", "sklearn"} & modules


def test_features_stage_runs_without_pandas_or_librosa(ravdess16k, tmp_path):
    files = sorted(ravdess16k.glob("Actor_01/*.wav"))[:3]
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("file,path,speaker,emotion,sha256\n" + "".join(
        f"{p.name},{p},01,calm,{sha256_of(p)}\n" for p in files))
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(PROJECT / "stages/features.py"), "--params", str(PROJECT / "params.yaml"),
         "--manifest", str(manifest), "--out", str(tmp_path / "f.parquet"), "--cache", str(tmp_path / "cache")],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    modules = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    imported = {name.split(".")[0] for name in modules}
    assert "pyarrow" in imported and "scipy.fft" in modules
    assert not {"pandas", "librosa", "numba", "sklearn", "matplotlib"} & imported
    assert "scipy.signal" not in modules  # a third of a second in every worker
    assert "3 files (3 computed, 0 from cache)" in result.stdout


def test_numba_cache_falls_back_to_a_writable_folder(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    env.update(HOME="/dev/null/nohome", TMPDIR=str(tmp_path))  # a home that cannot hold a cache
    program = ("import os, ser, numba\n"
               "@numba.njit(cache=True)\n"
               "def twice(x):\n    return 2 * x\n"
               "assert twice(21) == 42\n"
               "print(os.environ['NUMBA_CACHE_DIR'])\n")
    script = tmp_path / "compile_one.py"  # numba caches only functions defined in a file
    script.write_text(program)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    cache = result.stdout.strip()
    assert cache == str(tmp_path / "ser" / "numba")
    assert any(name.endswith(".nbi") for _, _, files in os.walk(cache) for name in files)
