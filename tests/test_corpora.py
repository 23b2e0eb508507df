import pytest

from ser.corpora import UnparsableName, parse_ravdess


def test_ravdess_name_gives_every_field():
    fields = parse_ravdess("Actor_12/03-01-05-02-01-02-12.wav")
    assert fields == {
        "modality": "audio-only", "vocal_channel": "speech", "emotion": "angry", "intensity": "strong",
        "statement": "kids", "repetition": "2", "speaker": "12", "actor": "12", "gender": "female",
    }


def test_ravdess_song_and_unseen_actors_parse():
    fields = parse_ravdess("03-02-06-01-02-01-23.wav")
    assert (fields["vocal_channel"], fields["emotion"], fields["speaker"], fields["gender"]) == ("song", "fearful", "23", "male")


@pytest.mark.parametrize("name", ["notes.wav", "03-01-09-01-01-01-01.wav", "03-01-01-01-01-01.wav", "03-01-01-01-01-01-xx.wav"])
def test_bad_ravdess_names_are_refused_with_the_reason(name):
    with pytest.raises(UnparsableName) as caught:
        parse_ravdess(name)
    assert name in str(caught.value)
