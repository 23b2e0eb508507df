from pathlib import Path

import pytest

from ser.config import ParamError, Params
from ser.corpus.conventions import (
    CONVENTIONS,
    CorpusError,
    UnparsableName,
    parse_cremad,
    parse_emodb,
    parse_ravdess,
    parse_savee,
    parse_tess,
    selected_convention,
)
from ser.corpus.ingest import IngestError, ingest
from ser.corpus.raw import fill_raw
from ser.corpus.sources import source_kind
from ser.names import EMOTIONS
from tests.audiofiles import GOOD_RAVDESS, copy_good_files


def test_ravdess_name_gives_every_field():
    fields = parse_ravdess("Actor_12/03-01-05-02-01-02-12.wav")
    assert fields == {
        "modality": "audio-only",
        "vocal_channel": "speech",
        "emotion": "angry",
        "intensity": "strong",
        "statement": "kids",
        "repetition": "2",
        "speaker": "12",
        "actor": "12",
        "gender": "female",
    }


def test_ravdess_song_and_unseen_actors_parse():
    fields = parse_ravdess("03-02-06-01-02-01-23.wav")
    assert (fields["vocal_channel"], fields["emotion"], fields["speaker"], fields["gender"]) == (
        "song",
        "fearful",
        "23",
        "male",
    )


@pytest.mark.parametrize(
    "name", ["notes.wav", "03-01-09-01-01-01-01.wav", "03-01-01-01-01-01.wav", "03-01-01-01-01-01-xx.wav"]
)
def test_bad_ravdess_names_are_refused_with_the_reason(name):
    with pytest.raises(UnparsableName) as caught:
        parse_ravdess(name)
    assert name in str(caught.value)


def test_shared_vocabulary_keeps_ravdess_codes_and_adds_boredom():
    assert EMOTIONS[:8] == ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
    assert "boredom" in EMOTIONS
    for convention in CONVENTIONS.values():
        assert set(convention.emotions) <= set(EMOTIONS)


@pytest.mark.parametrize(
    "parse,name,expected",
    [
        (
            parse_cremad,
            "1001_DFA_ANG_XX.wav",
            {"speaker": "1001", "sentence": "DFA", "emotion": "angry", "level": "unspecified"},
        ),
        (parse_cremad, "1091_WSI_FEA_HI.wav", {"speaker": "1091", "emotion": "fearful", "level": "high"}),
        (parse_tess, "TESS/OAF_back_angry.wav", {"speaker": "OAF", "word": "back", "emotion": "angry"}),
        (parse_tess, "YAF_pleasant_surprised/YAF_food_ps.wav", {"speaker": "YAF", "emotion": "surprised"}),
        (parse_tess, "OAF_neutral/OA_bite_neutral.wav", {"speaker": "OAF", "word": "bite", "emotion": "neutral"}),
        (parse_savee, "DC_a01.wav", {"speaker": "DC", "emotion": "angry", "sentence": "01"}),
        (parse_savee, "AudioData/KL/su15.wav", {"speaker": "KL", "emotion": "surprised", "sentence": "15"}),
        (parse_savee, "JE_sa03.wav", {"speaker": "JE", "emotion": "sad"}),
        (
            parse_emodb,
            "03a01Fa.wav",
            {"speaker": "03", "text": "a01", "emotion": "happy", "version": "a", "gender": "male"},
        ),
        (parse_emodb, "16b10Lb.wav", {"speaker": "16", "emotion": "boredom", "gender": "female"}),
        (parse_emodb, "08a02Wc.wav", {"speaker": "08", "emotion": "angry"}),
    ],
)
def test_each_convention_maps_names_to_speaker_and_shared_emotion(parse, name, expected):
    fields = parse(Path(name))
    assert {key: fields[key] for key in expected} == expected
    assert fields["emotion"] in EMOTIONS


@pytest.mark.parametrize(
    "parse,name,fragment",
    [
        (parse_cremad, "1001_DFA_JOY_XX.wav", "emotion code 'JOY'"),
        (parse_cremad, "1001_ABC_ANG_XX.wav", "sentence code 'ABC'"),
        (parse_cremad, "1001_DFA_ANG.wav", "ActorID_Sentence_Emotion_Level"),
        (parse_tess, "OAF_back_bored.wav", "emotion code 'bored'"),
        (parse_tess, "misc/XYZ_back_angry.wav", "speaker 'XYZ'"),
        (parse_savee, "DC_x01.wav", "Speaker_"),
        (parse_savee, "audio/a01.wav", "names no speaker"),
        (parse_emodb, "03a01Xa.wav", "emotion code 'X'"),
        (parse_emodb, "3a01Fa.wav", "such as 03a01Fa"),
    ],
)
def test_names_a_convention_cannot_parse_say_why(parse, name, fragment):
    with pytest.raises(UnparsableName, match=fragment):
        parse(Path(name))


def write_manifest(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.csv").write_text(text)
    return folder / "manifest.csv"


def test_manifest_keeps_extra_columns_maps_aliases_and_rejects_bad_rows(speech16k, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # stages run from the project root with a relative data.source
    corpus = Path("corpus")
    copy_good_files(speech16k, corpus / "clips")
    lines = ["Path,Emotion,Speaker,session"]
    for name, emotion in zip(GOOD_RAVDESS, ["Neutral", "calm", "neutral", "CALM"]):
        lines.append(f"clips/{name},{emotion},{name[6:8]},s1")
    lines += [
        "clips/missing.wav,neutral,09,s2",
        ",neutral,09,s2",
        "clips/x.wav,joy-ish,09,s2",
        "clips/y.wav,sad,,s2",
        "clips/z.wav,Fear,09,s3",
    ]
    write_manifest(corpus, "\n".join(lines) + "\n")
    result = ingest(corpus, CONVENTIONS["manifest"], ("neutral", "calm"), sample_rate=16000, min_samples=2048)
    assert sorted(result.catalog["file"]) == sorted(f"clips/{n}" for n in GOOD_RAVDESS)
    assert set(result.catalog["session"]) == {"s1"} and set(result.catalog["speaker"]) == {"01", "02"}
    for path in result.catalog["path"]:
        assert path.startswith("corpus/clips/") and Path(path).is_file()  # opened as is by the features stage
    reasons = dict(zip(result.rejected["path"], result.rejected["reason"]))
    assert reasons[str(corpus / "clips/missing.wav")] == "file does not exist"
    assert any(r.startswith("bad manifest row: empty path") for r in reasons.values())
    assert reasons[str(corpus / "clips/x.wav")].startswith("unknown emotion 'joy-ish'")
    assert reasons[str(corpus / "clips/y.wav")].startswith("bad manifest row: empty speaker")
    assert result.skipped == 1  # Fear -> fearful, not selected


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("file,emotion\na.wav,neutral\n", "lacks column(s) path, speaker"),
        ("path,emotion,speaker,duration\na.wav,neutral,1,3.0\n", "column(s) duration clash"),
        ("", "not a readable UTF-8 CSV"),
    ],
)
def test_broken_manifest_stops_ingest_with_its_reason(tmp_path, text, fragment):
    write_manifest(tmp_path, text)
    with pytest.raises(IngestError) as caught:
        ingest(tmp_path, CONVENTIONS["manifest"], "all", sample_rate=16000, min_samples=2048)
    assert fragment in str(caught.value)


def test_manifest_folder_must_hold_exactly_one_csv(tmp_path):
    write_manifest(tmp_path / "a", "path,emotion,speaker\n")
    write_manifest(tmp_path / "b", "path,emotion,speaker\n")
    with pytest.raises(CorpusError, match="exactly one manifest.csv"):
        CONVENTIONS["manifest"].locate(tmp_path)


@pytest.mark.parametrize(
    "data,fragment",
    [
        (
            {"dataset": "emodb", "emotions": ["calm", "sad"]},
            "data.emotions: 'calm' is not an emotion of the emodb corpus; allowed: all or a list of neutral, happy",
        ),
        (
            {"dataset": "cremad", "emotions": ["neutral", "surprised"]},
            "'surprised' is not an emotion of the cremad corpus",
        ),
        ({"source": "corpus", "sha256": "a" * 64}, "data.sha256: got a checksum for data.source 'corpus'"),
        ({"source": "demo", "sha256": "a" * 64}, "data.sha256: got a checksum for data.source 'demo'"),
        ({"source": "ftp://host/x.zip"}, "data.source: got 'ftp://host/x.zip': scheme 'ftp' is not supported"),
    ],
)
def test_data_params_are_checked_against_the_corpus_before_anything_is_read(data, fragment, tmp_path):
    """What config cannot know (a corpus's emotions, what a checksum can pin), ser.corpus checks as ingest starts."""
    data = Params.from_dict(
        {"data": {"source": "demo", "dataset": "ravdess", "emotions": ["neutral", "calm"], **data}}
    ).data
    with pytest.raises(ParamError) as caught:
        selected_convention(data.dataset, data.emotions)
        fill_raw(tmp_path / "raw", tmp_path / "downloads", data, 16000)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_malformed_checksum_is_refused_by_config():
    with pytest.raises(ParamError, match="data.sha256: got 'abc'; allowed: 64 hexadecimal digits"):
        Params.from_dict({"data": {"sha256": "abc"}})


def test_boredom_and_a_pinned_url_are_accepted():
    data = Params.from_dict(
        {
            "data": {
                "source": "https://example.org/emodb.zip",
                "dataset": "emodb",
                "emotions": ["boredom", "neutral"],
                "sha256": "AB" * 32,
            }
        }
    ).data
    assert data.emotions == ("boredom", "neutral") and data.sha256 == "ab" * 32
    assert selected_convention(data.dataset, data.emotions) is CONVENTIONS["emodb"] and source_kind(data) == "url"
