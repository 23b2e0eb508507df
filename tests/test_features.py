"""The one-STFT extractor against the notebook's own per-file librosa calls, on real files."""
import librosa
import numpy as np
import soundfile as sf

from ser.audio import load_audio
from ser.config import FeatureParams
from ser.features import FeatureExtractor


def notebook_features(path) -> np.ndarray:
    """What the notebook computes: three librosa calls, each with its own STFT, time-averaged."""
    samples, sample_rate = sf.read(path, dtype="float32")
    mfcc = np.mean(librosa.feature.mfcc(y=samples, sr=sample_rate, n_mfcc=40).T, axis=0)
    chroma = np.mean(librosa.feature.chroma_stft(y=samples, sr=sample_rate).T, axis=0)
    mel = np.mean(librosa.feature.melspectrogram(y=samples, sr=sample_rate).T, axis=0)
    return np.hstack([mfcc, chroma, mel])


def real_files(root, count):
    files = sorted(root.glob("Actor_*/*.wav"))
    return files[:: max(1, len(files) // count)][:count]


def test_feature_vector_equals_the_notebooks_on_real_files(ravdess16k):
    extractor = FeatureExtractor(FeatureParams(), 16000)
    assert len(extractor.names) == 180
    for path in real_files(ravdess16k, 24):
        ours = extractor(load_audio(path, 16000))
        np.testing.assert_allclose(ours, notebook_features(path), rtol=1e-4, atol=1e-7, err_msg=str(path))


def test_feature_names_follow_the_params():
    extractor = FeatureExtractor(FeatureParams(n_mfcc=13, n_chroma=24, n_mels=64), 16000)
    assert extractor.names[0] == "mfcc_mean_00" and extractor.names[13] == "chroma_mean_00"
    assert extractor.names[-1] == "mel_mean_063"
    assert len(extractor.names) == 13 + 24 + 64
    rng = np.random.default_rng(0)
    assert extractor(rng.standard_normal(16000).astype(np.float32) * 0.1).shape == (101,)
