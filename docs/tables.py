"""The long tables of the README and docs/, generated from measured results, never typed.

    python docs/tables.py                      # rewrite every table from docs/results/*.json
    python docs/tables.py --check              # exit 1 naming each table that differs (the test suite runs this)
    python docs/tables.py --record-run DIR     # keep a finished real-corpus run's headline metrics (see below)

Each table sits in a markdown file between ``<!-- table: NAME -->`` and ``<!-- /table -->``; its rows come from
a JSON file under docs/results/, written by the command the table's caption names:

* ``selection.json``: ``python bench/select_defaults.py --features <table> --out docs/results/selection.json``
  (its step 3 alone, on the choices already recorded: ``--choices docs/results/selection.json``)
* ``ravdess_run.json``: ``dvc exp run -S data.source=../shared/data/ravdess16k -S data.emotions=all
  -S evaluate.cv_folds=12`` in a clone, then ``python docs/tables.py --record-run <that clone>``
* ``few_recordings.json``: ``python bench/few_recordings.py --run <that clone> --json docs/results/few_recordings.json``
* ``extract.json``: ``python bench/extract.py --data ../shared/data/ravdess16k/Actor_01
  --json docs/results/extract.json``
* ``predict.json``, ``serve.json``: ``python bench/predict.py`` (``bench/serve.py``) ``--model <the real-corpus run's
  model> --json docs/results/predict.json`` (``serve.json``)
* ``vad_candidates.json``: ``python bench/vad.py --json docs/results/vad_candidates.json`` in a scratch venv holding
  the candidate detectors; ``vad.json``: the same in the project's venv (the chosen detector and ser's regions)
* ``hostile.json``: ``python bench/hostile.py --data ../shared/data/ravdess16k --json docs/results/hostile.json``
* ``timeline.json``: after that real-corpus run (its timeline stage included), ``python docs/tables.py
  --record-timeline <that clone>``
* ``timeline_select_windows.json``: ``python bench/timeline_select.py --run <that clone> --rows windows --set ...
  --json docs/results/timeline_select_windows.json`` (the settings in docs/timeline.md)
* ``first_run.json``: ``python bench/first_run.py --json docs/results/first_run.json``
* ``timeline_speed.json``: ``python bench/timeline.py --model <a bundle> --cores 1 2 --json
  docs/results/timeline_speed.json``
* ``clip_windows.json``: ``python bench/clip_windows.py --run <that clone> --json docs/results/clip_windows.json``
* ``augment.json``: ``python bench/augment.py --data ../shared/data/ravdess16k --work <scratch> --choices
  docs/results/selection.json --json docs/results/augment.json``
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
RESULTS = DOCS / "results"
MARKED = re.compile(r"(<!-- table: (?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)(<!-- /table -->)", re.S)
RUN_KEYS = {
    "evaluate": ("uar", "uar_one_clip", "accuracy", "ece", "ece_one_clip", "log_loss", "test_files"),
    "crossval": ("folds", "uar_mean", "uar_std", "uar_one_clip_mean", "uar_one_clip_std", "accuracy_mean"),
}


def result(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


def pm(pair) -> str:
    return f"{pair[0]:.3f} ± {pair[1]:.3f}"


def hostile() -> list[str]:
    found = result("hostile")
    serve, predict, run = found["serve_hour_flac_x8"], found["predict_absurd_header"], found["exp_run_absurd_header"]
    zips, tar = found["awkward_zips"], found["long_name_tar_gz"]
    statuses = ", ".join(str(s) for s in sorted(set(serve["statuses"])))
    zipped = "; ".join(
        f"{name}: {zip_['written']} written, {len(zip_['refused'])} refused "
        f"({', '.join(sorted(set(zip_['refused'].values())))})"
        for name, zip_ in zips.items()
    )
    return [
        "| hostile input | what happened |",
        "| --- | --- |",
        f"| `ser serve`: {len(serve['statuses'])} concurrent uploads of a {serve['flac_kb']:.0f} KB one-hour "
        f"FLAC | status {statuses}, the slowest in {serve['seconds_max']:.2f} s; resident memory "
        f"{serve['rss_idle_mb']:.0f} MB idle, {serve['rss_peak_mb']:.0f} MB at its peak "
        f"(+{serve['rss_growth_mb']:.1f}); `/health` "
        f"{'answered every' if serve['health_all_ok'] else 'failed some of'} {serve['health_checks']} checks, "
        f"the slowest in {serve['health_slowest_s']:.2f} s |",
        f"| `ser predict`: {predict['real_files']} real files and a {predict['flac_kb']:.1f} KB FLAC claiming 2^36 "
        f"samples | {predict['printed']} results printed, {predict['failure_lines']} failure line "
        f'("{predict["failure"]}"), exit status {predict["returncode"]} |',
        f"| `dvc exp run` on {run['real_files']} real files and that FLAC | {run['featurised']} rows featurised, "
        f'{len(run["rejected"])} rejected ("{next(iter(run["rejected"].values()))}") |',
        f"| the two awkward zips | {zipped} |",
        f"| a {tar['archive_kb']:.0f} KB .tar.gz with a 256 MB GNU long name | refused in {tar['seconds']:.3f} s, "
        f"peak memory {tar['peak_mb']} MB, a message of {tar['message_chars']} characters |",
        held_connections_row(found["held_connections"]),
        *hostile_batch_rows(found["hostile_batch"], found["hostile_batch_exp_run"]),
        *constant_flac_rows(found["constant_flacs"]),
        *hostile_bundle_rows(found["predict_hostile_bundle"]),
    ]


def counted(values: list) -> str:
    """``[200, 200, 422]`` as ``2 × 200, 1 × 422``."""
    return ", ".join(f"{values.count(value)} × {value}" for value in sorted(set(values)))


def held_connections_row(held: dict) -> str:
    """Measurement 5: silent and trickling connections held open against ``ser serve``."""
    first = f"the first trickling one after {held['slow_closed_after_s']} s" if held["slow_closed_by_server"] else ""
    return (
        f"| `ser serve` (its defaults): {held['idle']} connections that send nothing and {held['slow']} that send "
        f"headers a byte a second, held open for 15 s | `GET /health` status "
        f"{', '.join(map(str, held['health_statuses']))} to {held['health_probes']} probes a quarter second apart, "
        f"the slowest in {held['health_slowest_s_all_open']:.3f} s while all were open "
        f"({held['health_slowest_s']:.3f} s over the 15 s); the server closed {held['idle_closed_by_server']} of the "
        f"silent and {held['slow_closed_by_server']} of the trickling connections{first and ', ' + first} |"
    )


def hostile_batch_rows(batch: dict, run: dict) -> list[str]:
    """Measurement 6: the hostile batch through ``ser predict``, one ``POST /predict`` and ``dvc exp run``."""
    predict, post = batch["ser_predict"], batch["post_predict"]
    failures = [  # each file's line as name: "reason", without the advice all share; the summary line left out
        '{}: "{}"'.format(*line.removeprefix("$TMP/batch/").split("; give")[0].split(" ", 1))
        for line in predict["failure_lines"]
        if line.startswith("$TMP/")
    ]
    gsm = "" if any(line.startswith("gsm.wav") for line in failures) else " (the real files' and the GSM WAV's)"
    reasons = "; ".join(f'"{reason}"' for reason in run["rejected"].values())
    return [
        f"| `ser predict`: {predict['real_files']} real files (one 1,200 folders deep) beside a GSM 6.10 WAV, float "
        f"WAVs peaking at 1e20 and 3e38 and a header claiming 2,000,000,000 Hz | {predict['rows']} results "
        f"printed{gsm}, {len(failures)} failure lines ({'; '.join(failures)}), exit status {predict['returncode']}"
        f"{', a traceback' if predict['traceback'] else ''} |",
        f"| one `POST /predict` of those {post['parts']} files | status {post['status']}; per part: "
        f"{counted(post['part_statuses'])} |",
        f"| `dvc exp run` on {run['real_files']} real files (one 1,200 folders deep) and those hostile files | exit "
        f"status {run['returncode']}, {run['featurised']} rows featurised, {len(run['rejected'])} rejected in "
        f"`data/rejected.csv` ({reasons}) |",
    ]


def served(args: str) -> str:
    return "`ser serve` (its defaults)" if args == "defaults" else f"`ser serve {args}`"


def constant_flac_rows(found: list[dict]) -> list[str]:
    """Measurement 7: a normal request beside requests of constant FLACs; the default model's cost of those FLACs."""
    *delays, features = found
    rows = [
        f"| {served(delay['server_args'])}: a real file's request while two requests of eight "
        f"{delay['flac_kb']} KB FLACs of {delay['flac_seconds']} s of a constant signal run | status "
        f"{delay['normal_status']} in {delay['normal_during_s']:.3f} s ({delay['normal_alone_s']:.3f} s alone); "
        f"the FLAC requests: status {' and '.join(str(r['status']) for r in delay['flac_requests'])}, "
        f"{' and '.join(str(r['parts_predicted']) for r in delay['flac_requests'])} of 8 parts predicted, in "
        f"{' and '.join(format(r['seconds'], '.3f') for r in delay['flac_requests'])} s |"
        for delay in delays
    ]
    took = "; ".join(f"{length}: {seconds:.2f} s" for length, seconds in features["seconds_per_file"].items())
    return rows + [
        f"| params.yaml's default model ({', '.join(features['families'])}): the features of one constant FLAC, "
        f"on one thread | {took} |"
    ]


def hostile_bundle_rows(found: dict) -> list[str]:
    """Measurement 8: ``ser predict`` with hostile copies of the bundle."""
    damages = {
        "sample_rate_1e8": "whose model.json says `audio.sample_rate` 1e8 (digests recomputed)",
        "model_json_300mb": "whose model.json is 300 MB (its digest stale)",
    }
    rows = []
    for name, what in damages.items():
        run = found[name]
        lines = "1 line" if run["lines"] == 1 else f"{run['lines']} lines"
        rows.append(
            f"| `ser predict` with a copy of the bundle {what} | exit status {run['returncode']} in "
            f'{run["seconds"]:.2f} s, peak memory {run["peak_mb"]} MB, {lines} ("{run["first_line"]}") |'
        )
    return rows


def headline() -> list[str]:
    selection, run = result("selection"), result("ravdess_run")
    crossval, evaluate = run["crossval"], run["evaluate"]
    return [
        "| RAVDESS actors 01-12, all 8 emotions | UAR, many recordings of a speaker | UAR, one recording |",
        "| --- | --- | --- |",
        f"| **the defaults, nested** (each held-out actor's features and MLP chosen on the other 11) | "
        f"**{pm(selection['summary']['mlp']['uar'])}** | **{pm(selection['summary']['mlp']['uar_one_clip'])}** |",
        f"| the defaults, nested, one recording with 4 enrollment recordings of its actor (`--enroll`) | — | "
        f"{pm(selection['summary']['mlp']['uar_enrolled_4'])} |",
        f"| logistic regression on the same nested folds (the linear baseline) | "
        f"{pm(selection['summary']['logreg']['uar'])} | {pm(selection['summary']['logreg']['uar_one_clip'])} |",
        f"| the defaults, {crossval['folds']}-fold leave-one-speaker-out (chosen on these folds: optimistic) | "
        f"{crossval['uar_mean']:.3f} ± {crossval['uar_std']:.3f} | "
        f"{crossval['uar_one_clip_mean']:.3f} ± {crossval['uar_one_clip_std']:.3f} |",
        f"| the defaults, evaluate stage: {evaluate['test_files']} files of 4 held-out actors | "
        f"{evaluate['uar']:.3f} | "
        f"{evaluate['uar_one_clip']:.3f} |",
    ]


def selection_folds() -> list[str]:
    rows = [
        "| held-out actor | feature set chosen | MLP chosen | UAR | one-clip UAR "
        "| logistic regression: UAR, one clip |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for fold in result("selection")["folds"]:
        rows.append(
            f"| {fold['speaker']} | {fold['feature_set']} | {fold['mlp_setting']} | {fold['mlp']['uar']:.3f} | "
            f"{fold['mlp']['uar_one_clip']:.3f} | {fold['logreg']['uar']:.3f}, {fold['logreg']['uar_one_clip']:.3f} |"
        )
    return rows


def selection_scores() -> list[str]:
    inner = result("selection")["defaults"]["inner"]
    rows = ["| step | candidate | score on 3 folds of actors 01-12 |", "| --- | --- | --- |"]
    rows += [
        f"| 1. feature set (logistic regression) | {name} | {score:.3f} |"
        for name, score in inner["feature_sets"].items()
    ]
    rows += [f"| 2. MLP (on the chosen set) | {name} | {score:.3f} |" for name, score in inner["mlps"].items()]
    return rows


def calibration() -> list[str]:
    ece = result("selection")["ece"]
    return [
        "| probabilities of the nested outer folds | many recordings of a speaker | one recording |",
        "| --- | --- | --- |",
        f"| a temperature per normalisation mode (`train.calibrate_per_mode: true`) | {ece['calibrated']:.3f} | "
        f"{ece['calibrated_one_clip']:.3f} |",
        f"| one temperature, fitted with speakers' recordings together, for both (default) | {ece['calibrated']:.3f} | "
        f"{ece['one_temperature_one_clip']:.3f} |",
        f"| without | {ece['uncalibrated']:.3f} | {ece['uncalibrated_one_clip']:.3f} |",
    ]


def enrollment() -> list[str]:
    selection = result("selection")
    summary, ece = selection["summary"]["mlp"], selection["ece"]
    enrolled = sorted(int(key.rsplit("_", 1)[1]) for key in summary if key.startswith("uar_enrolled_"))
    rows = [
        "| a held-out actor's recording predicted with | UAR | ECE, a temperature per mode | ECE, one temperature |",
        "| --- | --- | --- | --- |",
        f"| nothing else (one clip) | {pm(summary['uar_one_clip'])} | {ece['calibrated_one_clip']:.3f} | "
        f"{ece['one_temperature_one_clip']:.3f} |",
    ]
    rows += [
        f"| {k} enrollment recording{'s' if k > 1 else ''} of the actor | {pm(summary[f'uar_enrolled_{k}'])} | "
        f"{ece[f'calibrated_enrolled_{k}']:.3f} | {ece[f'one_temperature_enrolled_{k}']:.3f} |"
        for k in enrolled
    ]
    rows.append(
        f"| all the actor's recordings, normalised together | {pm(summary['uar'])} | {ece['calibrated']:.3f} | "
        f"{ece['calibrated']:.3f} |"
    )
    return rows


def extract_costs() -> list[str]:
    costs = result("extract")
    return [
        "| seconds per file (one worker) | |",
        "| --- | --- |",
        f"| the whisper family, layers {', '.join(map(str, costs['whisper_layers']))} (default) | "
        f"{costs['whisper_per_file_s']:.3f} |",
        f"| the encoder's pass alone for those layers (the floor) | {costs['whisper_floor_per_file_s']:.3f} |",
        f"| the family with the last layer only (a pass through all 6 layers) | "
        f"{costs['whisper_last_layer_per_file_s']:.3f} |",
        f"| the family with every layer (`layers: all`) | {costs['whisper_all_layers_per_file_s']:.3f} |",
        f"| default over floor; default over last layer only; every layer over last layer only | "
        f"{costs['whisper_over_floor']:.2f}; {costs['whisper_over_last_layer']:.2f}; "
        f"{costs['whisper_all_over_last_layer']:.2f} |",
        f"| cores other programs kept busy meanwhile (the ratios hold; the seconds are inflated) | "
        f"{costs['background_cores']:.2f} |",
    ]


def extract_stage() -> list[str]:
    costs = result("extract")
    files = costs["files"]

    def row(what: str, key: str, ratio: str = "") -> str:
        return f"| {what} | {costs[key]:.2f} | {files / costs[key]:.0f} | {ratio} |"

    return [
        f"| what ({files} files) | seconds | files/s | ratio |",
        "| --- | --- | --- | --- |",
        row("the notebook's way: three librosa calls per file, one process", "ref_s"),
        row(
            "ours, notebook features, 1 worker (decode, features, cache, parquet)",
            "one_worker_s",
            f"`speedup_one_worker` {costs['speedup_one_worker']:.1f}",
        ),
        row(
            f"ours, notebook features, {costs['workers']} workers",
            "all_workers_s",
            f"`speedup_all_workers` {costs['speedup_all_workers']:.1f}",
        ),
        row(
            "floor: `soundfile.read` + one numpy STFT per file, one process",
            "floor_s",
            f"`over_floor` {costs['over_floor']:.2f}",
        ),
        row("the features stage as DVC runs it (new process, default params: the whisper family)", "stage_full_s"),
        f"| peak RSS of that stage (MB); cores other programs kept busy meanwhile | "
        f"{costs['peak_rss_mb']:.0f}; {costs['background_cores']:.2f} | | |",
    ]


def few_recordings() -> list[str]:
    few = result("few_recordings")
    counts = sorted(few["shrunk"], key=int)

    def row(label: str, values: dict, last: str = "") -> str:
        return f"| {label} | " + " | ".join(f"{values[n]:.3f}" if n in values else "—" for n in counts) + f" | {last} |"

    return [
        "| recordings of the speaker given together (n) | " + " | ".join(counts) + " | all |",
        "| --- | " + " | ".join("---" for _ in counts) + " | --- |",
        row(
            "**what `ser predict` does**: shrunk toward the training average below 10",
            few["shrunk"],
            f"{few['all_own']:.3f} (evaluate's `uar`)",
        ),
        row("own statistics only", few["own"], f"{few['all_own']:.3f}"),
        row("the training average alone", {counts[0]: few["reference_only"]}),
        row("no standardisation (the model expects it)", {counts[0]: few["unnormalised"]}),
    ]


def predict_speed() -> list[str]:
    speed = result("predict")
    rows = [
        ("`python -c pass` (the floor)", "python"),
        ("imports + bundle loaded, no audio", "ready"),
        ("1 file", "one_file"),
        (f"folder of {speed['files']} files", "folder"),
    ]
    return [
        "| `python -m ser predict` | wall (s) | CPU (s) |",
        "| --- | --- | --- |",
        *(f"| {label} | {speed[key + '_s']:.3f} | {speed[key + '_cpu_s']:.3f} |" for label, key in rows),
        f"| per file, folder of {speed['files']} | {speed['per_file_s']:.3f} | |",
        f"| each extra file once running | {speed['marginal_file_s']:.3f} | {speed['marginal_file_cpu_s']:.3f} |",
        f"| cores other programs kept busy meanwhile | {speed.get('background_cores', float('nan')):.2f} | |",
        *(
            f"| left out of the folder, refused: `{name}` ({why}) | | |"
            for name, why in speed.get("refused", {}).items()
        ),
    ]


def first_run() -> list[str]:
    run = result("first_run")
    stages = [(key.removeprefix("stage_"), seconds) for key, seconds in run.items() if key.startswith("stage_")]
    return [
        "| first `dvc repro` of the demo, fresh clone | wall (s) | CPU (s) |",
        "| --- | --- | --- |",
        *(f"| {stage} | {seconds:.1f} | {run[f'cpu_{stage}']:.1f} |" for stage, seconds in stages),
        f"| **total** | **{run['total_seconds']:.1f}** | **{run['cpu_seconds']:.1f}** |",
        f"| no-op `dvc repro` afterwards (median of 5) | {run['noop_seconds']:.2f} | {run['noop_cpu_seconds']:.2f} |",
        f"| of which the ingest stage (its script alone) | {run['noop_ingest_seconds']:.2f} "
        f"| {run['noop_ingest_cpu_seconds']:.2f} |",
        f"| `dvc status` (DVC reading the pipeline, running nothing) | {run['noop_status_seconds']:.2f} "
        f"| {run['noop_status_cpu_seconds']:.2f} |",
        f"| the machine's cores busy meanwhile (this run included) | {run['machine_busy_fraction']:.0%} | |",
    ]


def serve_speed() -> list[str]:
    speed = result("serve")
    levels = sorted(int(key.split("_")[1]) for key in speed if key.startswith("p50_") and key.endswith("_s"))
    return [
        "| figure | measured |",
        "| --- | --- |",
        f"| `ser predict`, one file, fresh process (median of 5) | {speed['ser_predict_one_file_s']:.2f} s |",
        f"| `ser serve` start-up, process start to `GET /health` 200 | {speed['startup_s']:.2f} s |",
        *(
            f"| {n} client{'s' if n > 1 else ''}: one-file latency p50 / p99, files per second | "
            f"{1000 * speed[f'p50_{n}_s']:.0f} ms / {1000 * speed[f'p99_{n}_s']:.0f} ms, "
            f"{speed[f'files_per_s_{n}']:.1f} |"
            for n in levels
        ),
        f"| errors (no answer, or one other than 200 or 422) | {speed['errors']} of {speed['requests']} |",
        f"| refused (422: a file with no speech) | {speed['refused']} |",
        f"| server RSS after warm-up / after the requests | {speed['rss_before_mb']:.1f} MB / "
        f"{speed['rss_after_mb']:.1f} MB ({speed['rss_growth']:+.1%}) |",
        f"| **p50 at 1 client / `ser predict` one file** | **{speed['p50_1_over_predict']:.3f}** (target < 0.05: "
        f"{'met' if speed['target_met'] else 'missed'}) |",
        f"| load average at the end (2 cores) | {speed['load_average']:.2f} |",
    ]


def vad() -> list[str]:
    rows = result("vad_candidates")["detectors"] | result("vad")["detectors"]
    others = ("silence", "white noise", "pink noise", "tone 440 Hz", "chords")
    lines = [
        "| detector | clean: miss / false alarm | white 20 / 10 dB: miss | pink 20 / 10 dB: miss | "
        "babble 20 dB: miss | silence, noise, tone, chords: false alarm | x real time (1 core) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, row in rows.items():
        lines.append(
            f"| {name} | {row['clean miss']:.2f} / {row['clean false alarm']:.2f} | "
            f"{row['white 20 dB miss']:.2f} / {row['white 10 dB miss']:.2f} | "
            f"{row['pink 20 dB miss']:.2f} / {row['pink 10 dB miss']:.2f} | {row['babble 20 dB miss']:.2f} | "
            + ", ".join(f"{row[f'{o} false alarm']:.2f}" for o in others)
            + f" | {row['x real time']:.0f} |"
        )
    return lines


def timeline_eval() -> list[str]:
    run = result("timeline")
    settings = run["settings"]
    return [
        f"| {run['recordings']} recordings of {run['seconds']:g} s, test speakers "
        f"{', '.join(run['test_speakers'])} (the model trained on {', '.join(run['train_speakers'])}) | |",
        "| --- | --- |",
        f"| settings | {settings['window']:g} s windows every {settings['hop']:g} s, {settings['smoothing']} "
        f"(change penalty {settings['change_penalty']:g}), uncertain below {settings['uncertain']:g} |",
        f"| **EDER** (collar {run['collar']:g} s) | **{run['eder']:.3f}** |",
        *(
            f"| {label} | {run[key]:.3f} |"
            for label, key in (
                ("missed", "missed"),
                ("... of which `uncertain`", "uncertain"),
                ("false alarm", "false_alarm"),
                ("confusion", "confusion"),
                ("frame UAR", "frame_uar"),
            )
        ),
    ]


def timeline_speed() -> list[str]:
    speed = result("timeline_speed")
    lines = [
        "| `ser timeline --format csv`, one fresh process, start-up included | audio | wall | x real time | "
        "cores busy with other programs meanwhile |",
        "| --- | --- | --- | --- | --- |",
    ]
    for run in speed["folders"]:
        workers = "one worker (`--cores 1`)" if run["cores"] == 1 else f"a worker per core ({run['cores']})"
        lines.append(
            f"| folder of {speed['recordings']} recordings of 30 s, {workers} (median of {speed['repeat']}) | "
            f"{speed['audio_s']:,.0f} s | {run['folder_s']:.2f} s | {run['real_time_factor']:.1f} | "
            f"{run.get('background_cores', float('nan')):.2f} |"
        )
    if "long_s" in speed:
        lines.append(
            f"| one recording of {speed['long_audio_s'] / 3600:g} hours (the 30 s recordings back to back) | "
            f"{speed['long_audio_s']:,.0f} s | {speed['long_s']:.1f} s | {speed['long_real_time_factor']:.1f} | "
            f"{speed.get('long_background_cores', float('nan')):.2f} |"
        )
    return lines


def timeline_memory() -> list[str]:
    speed = result("timeline_speed")
    return [
        "| peak resident memory of `ser timeline` (the process and its workers) | MB |",
        "| --- | --- |",
        f"| one recording of 30 s | {speed['rss_30s_mb']:,.0f} |",
        f"| one recording of {speed['long_audio_s'] / 3600:g} hours | {speed['rss_long_mb']:,.0f} |",
        f"| growth | {speed['rss_growth_mb']:+,.0f} |",
    ]


def timeline_select() -> list[str]:
    found = result("timeline_select_windows")
    chosen = found["chosen"]
    lines = ["| setting | mean EDER over the two groups of training speakers |", "| --- | --- |"]
    for setting, eder in found["inner_mean_eder"].items():
        name = setting.replace(";", ", ")
        lines.append(f"| **{name}** (chosen) | **{eder:.3f}** |" if setting == chosen else f"| {name} | {eder:.3f} |")
    return lines


def clip_windows() -> list[str]:
    found = result("clip_windows")
    return [
        "| the clip model trained on | rows | UAR | one clip |",
        "| --- | --- | --- | --- |",
        f"| whole clips (the features stage's rows) | {found['clips']:,} | {found['clips_uar_mean']:.3f} ± "
        f"{found['clips_uar_std']:.3f} | {found['clips_uar_one_clip_mean']:.3f} ± "
        f"{found['clips_uar_one_clip_std']:.3f} |",
        f"| windows of {found['window']:g} s every {found['hop']:g} s and the speech whole, probabilities averaged "
        f"over a clip's rows | {found['rows']:,} | {found['windows_uar_mean']:.3f} ± {found['windows_uar_std']:.3f} | "
        f"{found['windows_uar_one_clip_mean']:.3f} ± {found['windows_uar_one_clip_std']:.3f} |",
    ]


def augment() -> list[str]:
    found = result("augment")
    lines = [
        "| candidate | rows trained on (per fold) | UAR | one clip | score | score - none's, paired (± SE) "
        "| one clip - none's (± SE) | ECE uncalibrated: together, one clip |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, c in found["candidates"].items():
        differences = (
            "(the reference) | (the reference)"
            if name == "none"
            else f"{c['score_difference']:+.3f} ± {c['score_difference_se']:.3f} | "
            f"{c['uar_one_clip_difference']:+.3f} ± {c['uar_one_clip_difference_se']:.3f}"
        )
        lines.append(
            f"| {name} | {c['rows_trained_on']:,} | {c['uar']:.3f} ± {c['uar_std']:.3f} | {c['uar_one_clip']:.3f} ± "
            f"{c['uar_one_clip_std']:.3f} | {c['score']:.3f} | {differences} | {c['ece_uncalibrated']:.3f}, "
            f"{c['ece_uncalibrated_one_clip']:.3f} |"
        )
    return lines


def augment_phone() -> list[str]:
    found = result("augment")
    lines = [
        "| candidate | UAR | one clip | on the phone: UAR | on the phone: one clip |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, c in found["candidates"].items():
        if "uar_phone" in c:
            lines.append(
                f"| {name} | {c['uar']:.3f} | {c['uar_one_clip']:.3f} | {c['uar_phone']:.3f} ± "
                f"{c['uar_phone_std']:.3f} | {c['uar_phone_one_clip']:.3f} ± {c['uar_phone_one_clip_std']:.3f} |"
            )
    return lines


def augment_costs() -> list[str]:
    seconds = result("augment")["seconds_per_file"]
    return [
        "| copy | CPU seconds per file (the copy made, then its features: every layer, 4 statistics) |",
        "| --- | --- |",
        *(f"| {'the file itself' if name == 'none' else name} | {value:.3f} |" for name, value in seconds.items()),
    ]


CHANNEL_NAMES = {
    "none": "none: as built",
    "phone": "a telephone line, 300 Hz to {:g} Hz, 8 kHz, mu-law",
    "noise": "coloured noise, {:g} dB below the recording",
    "reverb": "a room, RT60 {:g} s",
}


def timeline_channels() -> list[str]:
    found = result("timeline_channels")
    trainings = found["trainings"]
    trained = [
        "and their copies " + ", ".join(f"`{c}`" for c in t["copies"]) if t["copies"] else "as they are"
        for t in trainings
    ]
    lines = [
        f"| {found['recordings']} recordings of {found['seconds']:g} s of test speakers "
        f"{', '.join(found['test_speakers'])} passed through: EDER (missed, confusion), frame UAR | "
        + " | ".join(f"model trained on the clips {name}" for name in trained)
        + " |",
        "| --- |" + " --- |" * len(trainings),
    ]
    for row, run in enumerate(trainings[0]["runs"]):
        kind, _, value = run["channel"].partition(" ")
        cells = [t["runs"][row] for t in trainings]
        lines.append(
            f"| {CHANNEL_NAMES[kind].format(float(value or 0))} | "
            + " | ".join(
                f"{c['eder']:.3f} ({c['missed']:.3f}, {c['confusion']:.3f}), {c['frame_uar']:.3f}" for c in cells
            )
            + " |"
        )
    return lines


TABLES = {
    "vad": vad,
    "headline": headline,
    "selection-folds": selection_folds,
    "selection-scores": selection_scores,
    "calibration": calibration,
    "enrollment": enrollment,
    "extract-costs": extract_costs,
    "extract-stage": extract_stage,
    "few-recordings": few_recordings,
    "predict-speed": predict_speed,
    "serve-speed": serve_speed,
    "first-run": first_run,
    "hostile": hostile,
    "timeline-eval": timeline_eval,
    "timeline-channels": timeline_channels,
    "timeline-select": timeline_select,
    "timeline-speed": timeline_speed,
    "timeline-memory": timeline_memory,
    "clip-windows": clip_windows,
    "augment": augment,
    "augment-phone": augment_phone,
    "augment-costs": augment_costs,
}


def rendered(text: str) -> str:
    return MARKED.sub(lambda m: m[1] + "\n".join(TABLES[m["name"]]()) + "\n" + m[4], text)


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def record_run(folder: Path) -> None:
    metrics = {
        name: json.loads((folder / "metrics" / f"{file}.json").read_text())
        for name, file in (("evaluate", "evaluate"), ("crossval", "crossval"))
    }
    kept = {name: {key: metrics[name][key] for key in keys} for name, keys in RUN_KEYS.items()}
    (RESULTS / "ravdess_run.json").write_text(json.dumps(kept, indent=1) + "\n")


def record_timeline(folder: Path) -> None:
    """The timeline stage's metrics of a finished run, with its settings and which speakers it trained and scored on."""
    import csv

    import yaml

    metrics = json.loads((folder / "metrics" / "timeline.json").read_text())
    settings = yaml.safe_load((folder / "params.yaml").read_text())["timeline"]["eval"]
    with open(folder / "data" / "split.csv", newline="") as handle:
        split = [(row["speaker"], row["set"]) for row in csv.DictReader(handle)]
    runtime = yaml.safe_load((folder / "params.yaml").read_text())["timeline"]
    kept = {
        **metrics,
        "settings": {key: runtime[key] for key in ("window", "hop", "smoothing", "change_penalty", "uncertain")},
        "seconds": settings["seconds"],
        "collar": settings["collar"],
        "seed": settings["seed"],
        **{
            f"{which}_speakers": sorted({speaker for speaker, set_ in split if set_ == which})
            for which in ("train", "test")
        },
    }
    (RESULTS / "timeline.json").write_text(json.dumps(kept, indent=1) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a table differs")
    parser.add_argument("--record-run", type=Path, metavar="DIR", help="a clone after a real-corpus dvc exp run")
    parser.add_argument("--record-timeline", type=Path, metavar="DIR", help="keep such a clone's timeline metrics")
    args = parser.parse_args()
    if args.record_run:
        record_run(args.record_run)
    if args.record_timeline:
        record_timeline(args.record_timeline)
    stale = []
    for path in documents():
        text = path.read_text()
        unknown = [m["name"] for m in MARKED.finditer(text) if m["name"] not in TABLES]
        if unknown:
            print(f"{path.relative_to(ROOT)}: unknown table(s) {unknown}; known: {', '.join(TABLES)}", file=sys.stderr)
            return 1
        new = rendered(text)
        if new != text:
            stale += [f"{path.relative_to(ROOT)}: {m['name']}" for m in MARKED.finditer(text) if m.group(0) not in new]
            if not args.check:
                path.write_text(new)
    if stale and args.check:
        print("tables that differ from docs/results (run python docs/tables.py): " + "; ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
