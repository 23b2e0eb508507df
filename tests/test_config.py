import dataclasses
import json

import pytest
import yaml

from ser.config import ParamError, Params, load_params
from tests.conftest import PROJECT


def params_with(section: str, key: str, value) -> dict:
    raw = yaml.safe_load((PROJECT / "params.yaml").read_text())
    raw[section][key] = value
    return raw


def test_shipped_params_are_valid_and_match_the_notebook():
    params = load_params(PROJECT / "params.yaml")
    assert params.data.source == "demo"
    assert params.data.emotions == ("neutral", "calm", "happy", "disgust")
    assert (params.features.n_mfcc, params.features.n_chroma, params.features.n_mels) == (40, 12, 128)
    assert params.train.model == "mlp"
    assert (params.split.by, params.split.test_size, params.split.seed) == ("speaker", 0.3, 5)


@pytest.mark.parametrize(
    "section,key,value,fragment",
    [
        (
            "data",
            "emotions",
            ["neutral", "joy"],
            "data.emotions: unknown emotion 'joy'; allowed: all or a list of neutral",
        ),
        ("data", "emotions", "some", "data.emotions"),
        ("data", "dataset", "timit", "data.dataset: got 'timit'; allowed: ravdess"),
        ("data", "max_archive_bytes", 0, "data.max_archive_bytes: got 0; allowed: an integer >= 1"),
        ("data", "max_archive_files", "many", "data.max_archive_files: got 'many'; allowed: an integer >= 1"),
        ("data", "max_download_bytes", -5, "data.max_download_bytes: got -5; allowed: an integer >= 1"),
        ("audio", "max_seconds", 0, "audio.max_seconds: got 0; allowed: a number in (0, 14400]"),
        ("audio", "max_seconds", 1e12, "audio.max_seconds: got 1000000000000.0; allowed: a number in (0, 14400]"),
        (
            "audio",
            "sample_rate",
            100_000_000,
            "audio.sample_rate: got 100000000; allowed: an integer in [8000, 192000]",
        ),
        ("features", "n_fft", 2**31, "features.n_fft: got 2147483648; allowed: an integer in [16, 65536]"),
        ("train", "alpha", -1, "train.alpha: got -1; allowed: a number in [0, inf]"),
        ("train", "hidden_layer_sizes", [0], "train.hidden_layer_sizes"),
        ("train", "solver", "rmsprop", "train.solver: got 'rmsprop'; allowed: adam, sgd, lbfgs"),
        ("train", "scale", "yes", "train.scale: got 'yes'; allowed: true or false"),
        ("split", "test_size", 1.0, "split.test_size: got 1.0; allowed: a number in (0, 1)"),
        ("split", "test_size", 0, "split.test_size: got 0; allowed: a number in (0, 1)"),
        ("split", "by", "gender", "split.by: got 'gender'; allowed: speaker, random"),
        ("evaluate", "cv_folds", 1, "evaluate.cv_folds: got 1; allowed: an integer >= 2"),
        ("features", "n_mfcc", 200, "features.n_mfcc: got 200; allowed: at most features.n_mels (128)"),
        ("train", "alpah", 0.1, "train.alpah: unknown key; allowed keys in train: alpha"),
        (
            "features",
            "families",
            ["mfcc", "pitch"],
            "features.families: got ['mfcc', 'pitch']; allowed: a list of distinct names from mfcc",
        ),
        ("features", "stats", [], "features.stats: got []; allowed: a list of distinct names from mean"),
        ("features", "executor", "spark", "features.executor: got 'spark'; allowed: local, dask"),
        (
            "features",
            "stats",
            ["mean", "mode"],
            "features.stats: got ['mean', 'mode']; allowed: a list of distinct names from mean, std, min",
        ),
        (
            "features",
            "families",
            ["mfcc", "mfcc"],
            "features.families: got ['mfcc', 'mfcc']; allowed: a list of distinct names",
        ),
        ("train", "model", "forest", "train.model: got 'forest'; allowed: mlp, svm, logreg"),
        ("train", "normalize", "gender", "train.normalize: got 'gender'; allowed: none, speaker"),
        ("train", "calibrate", "no", "train.calibrate: got 'no'; allowed: true or false"),
        ("train", "svm", {"C": 0}, "train.svm.C: got 0; allowed: a number in (0, inf]"),
        ("train", "svm", {"gamma": "big"}, "train.svm.gamma: got 'big'; allowed: scale, auto or a number in (0, inf]"),
        ("train", "svm", {"gamma": -1}, "train.svm.gamma: got -1; allowed: scale, auto or a number in (0, inf]"),
        ("train", "svm", {"c": 1}, "train.svm.c: unknown key; allowed keys in train.svm: C, gamma"),
        ("train", "svm", 10, "train.svm: got 10; allowed: a mapping with keys C, gamma"),
        ("train", "logreg", {"C": -2}, "train.logreg.C: got -2; allowed: a number in (0, inf]"),
        ("train", "logreg", {"max_iter": 0}, "train.logreg.max_iter: got 0; allowed: an integer >= 1"),
    ],
)
def test_bad_params_name_the_key_and_what_is_allowed(section, key, value, fragment):
    with pytest.raises(ParamError) as caught:
        Params.from_dict(params_with(section, key, value))
    message = str(caught.value)
    assert fragment in message
    assert "\n" not in message


def test_all_emotions_and_integer_speaker_ids_are_accepted():
    raw = params_with("data", "emotions", "all")
    raw["split"]["test_speakers"] = [1, "12"]
    params = Params.from_dict(raw)
    assert params.data.emotions == "all"
    assert params.split.test_speakers == ("01", "12")


def test_missing_params_file_is_a_clear_error(tmp_path):
    with pytest.raises(ParamError, match="not found"):
        load_params(tmp_path / "params.yaml")


def test_dask_executor_needs_a_scheduler_address():
    with pytest.raises(ParamError, match="features.scheduler: got None; allowed with executor dask"):
        Params.from_dict(params_with("features", "executor", "dask"))
    raw = params_with("features", "executor", "dask")
    raw["features"]["scheduler"] = "tcp://127.0.0.1:8786"
    assert Params.from_dict(raw).features.scheduler == "tcp://127.0.0.1:8786"


@pytest.mark.parametrize(
    "copies",
    [["noise"], ["echo 0.5"], ["speed 5"], ["noise 15", "noise 15"], "noise loud", ["pitch 7"], ["phone 5000"]],
)
def test_a_bad_augmentation_copy_is_refused_naming_the_key(copies):
    raw = params_with("features", "augment", {"copies": copies})
    with pytest.raises(ParamError, match="features.augment.copies: got .*allowed"):
        Params.from_dict(raw)


@pytest.mark.parametrize("channel", ["speed 0.9", "pitch 2", "phone", "phone 5000", "noise loud", 3400])
def test_a_bad_timeline_eval_channel_is_refused_naming_the_key(channel):
    raw = yaml.safe_load((PROJECT / "params.yaml").read_text())
    raw["timeline"]["eval"]["channel"] = channel
    with pytest.raises(ParamError, match="timeline.eval.channel: got .*allowed"):
        Params.from_dict(raw)
    raw["timeline"]["eval"]["channel"] = "phone 3400"
    assert Params.from_dict(raw).timeline.eval.channel == "phone 3400"


def test_augmentation_copies_do_not_change_a_files_feature_definition():
    plain = Params.from_dict(params_with("features", "augment", {"copies": []})).features
    assert plain.augment.copies == ()
    copies = ("pitch -2", "pitch +2", "phone 3400")
    copied = Params.from_dict(params_with("features", "augment", {"copies": list(copies)})).features
    assert copied.augment.copies == copies
    assert copied.definition() == plain.definition()
    assert plain.definition() == load_params(PROJECT / "params.yaml").features.definition()


def dataclass_keys(cls: type, prefix: str = "") -> list[str]:
    """Every parameter of ``cls`` as a dotted key; a field holding a dataclass is a section of its own."""
    keys = []
    for item in dataclasses.fields(cls):
        default = item.default if item.default_factory is dataclasses.MISSING else item.default_factory()
        if dataclasses.is_dataclass(default):
            keys += dataclass_keys(type(default), f"{prefix}{item.name}.")
        else:
            keys.append(f"{prefix}{item.name}")
    return keys


def yaml_keys(raw: dict, prefix: str = "") -> list[str]:
    return [
        key
        for name, value in raw.items()
        for key in (yaml_keys(value, f"{prefix}{name}.") if isinstance(value, dict) else [f"{prefix}{name}"])
    ]


def test_library_defaults_are_the_shipped_params_yaml():
    """One source of truth: params.yaml names every parameter, and each dataclass default equals its value.

    Whoever changes a default in params.yaml changes it in ser.config too (and the other way round).
    """
    raw = yaml.safe_load((PROJECT / "params.yaml").read_text())
    assert sorted(yaml_keys(raw)) == sorted(dataclass_keys(Params))
    shipped = Params.from_dict(raw)
    for section in dataclasses.fields(Params):
        assert getattr(shipped, section.name) == getattr(Params(), section.name), (
            f"params.yaml {section.name} != defaults"
        )


def test_model_subsections_take_partial_mappings_and_numbers_for_gamma():
    raw = params_with("train", "svm", {"gamma": 0.01})
    raw["train"]["logreg"] = {"C": 3}
    params = Params.from_dict(raw)
    assert (params.train.svm.C, params.train.svm.gamma) == (1.0, 0.01)
    assert (params.train.logreg.C, params.train.logreg.max_iter) == (3, 1000)


def test_defaults_are_the_measured_best_and_the_notebook_is_one_set_of_overrides_away():
    from ser.features.families import feature_names

    shipped = load_params(PROJECT / "params.yaml")
    assert (shipped.train.model, shipped.train.normalize, shipped.train.blocks) == ("mlp", "speaker", "equal")
    assert "egemaps" not in shipped.features.families and "compare" not in shipped.features.families  # no openSMILE
    names = feature_names(shipped.features)  # bench/select_defaults.py's choice: layers 2-4 of the encoder alone
    assert names == [
        f"whisper_layer{layer}_{stat}_{i:03d}" for layer in (2, 3, 4) for stat in ("mean", "std") for i in range(512)
    ]
    assert (shipped.train.hidden_layer_sizes, shipped.train.alpha, shipped.train.ensemble) == ((64,), 3.0, 5)
    assert shipped.train.max_iter == 200  # the nested score unchanged (docs/pipeline.md), the demo's fits 0.6 as long
    assert shipped.train.calibrate
    raw = yaml.safe_load((PROJECT / "params.yaml").read_text())
    raw["features"].update(families=["mfcc", "chroma", "mel"], stats=["mean"])  # the docs' -S overrides
    raw["train"].update(
        model="mlp",
        normalize="none",
        scale=False,
        batch_size=30,
        hidden_layer_sizes=[300],
        alpha=0.1,
        ensemble=1,
        calibrate=False,
        max_iter=500,
    )
    notebook = Params.from_dict(raw)
    names = feature_names(notebook.features)
    assert len(names) == 180 and names[0] == "mfcc_mean_00" and names[-1] == "mel_mean_127"
    assert (notebook.train.alpha, notebook.train.batch_size, notebook.train.hidden_layer_sizes) == (0.1, 30, (300,))
    assert (notebook.train.learning_rate, notebook.train.max_iter) == ("adaptive", 500)


def flat_params(raw: dict, prefix: str = "") -> dict:
    """params.yaml's values by dotted key, as `dvc exp run -S` names them."""
    found = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            found.update(flat_params(value, f"{prefix}{key}."))
        else:
            found[prefix + key] = value
    return found


def test_dvc_set_param_takes_every_list_param_to_other_lists_to_empty_and_back(tmp_path):
    """`dvc exp run -S key=value` rewrites params.yaml with DVC's own writer (dvc.utils.hydra.apply_overrides): a
    list must go through a longer list, the empty list and back, leaving a file that reads back with only that key
    changed (an end-of-line comment beside a list once left the file unreadable after `-S key=[]`)."""
    from dvc.utils.hydra import apply_overrides

    path = tmp_path / "params.yaml"
    path.write_text((PROJECT / "params.yaml").read_text())
    shipped = flat_params(yaml.safe_load(path.read_text()))
    lists = [key for key, value in shipped.items() if isinstance(value, list)]
    assert "features.augment.copies" in lists and "split.test_speakers" in lists
    for key in lists:
        for value in (["a b", "c d"], [], ["e"], [], shipped[key]):
            apply_overrides(path, [f"{key}={json.dumps(value)}"])
            assert flat_params(yaml.safe_load(path.read_text())) == {**shipped, key: value}, (key, value)
