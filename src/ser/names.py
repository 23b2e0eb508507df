"""Names that params.yaml chooses among and that a subpackage implements, one entry per name.

A leaf: it imports nothing of the project, so :mod:`ser.config` validates a parameter against
these names and the module that implements them registers under the same names, without either
importing the other (tests/test_names.py checks that each implementation covers exactly its list).
"""

RAVDESS_EMOTIONS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")  # codes 01-08
EMOTIONS = RAVDESS_EMOTIONS + ("boredom",)  # the shared vocabulary every corpus convention maps its labels onto

CORPUS_CONVENTIONS = ("ravdess", "cremad", "tess", "savee", "emodb", "manifest")  # ser.corpus.conventions.CONVENTIONS

FEATURE_FAMILIES = (  # ser.features.families.FAMILIES
    "mfcc",
    "chroma",
    "mel",
    "mfcc_delta",
    "mfcc_delta2",
    "contrast",
    "flatness",
    "rolloff",
    "centroid",
    "rms",
    "zcr",
    "f0",
    "voicing",
    "logmel",
    "loudness",
    "balance",
    "egemaps",
    "compare",  # openSMILE functional sets (ser.features.smile): one vector per file, stats do not apply
    "whisper",  # Whisper's encoder (ser.features.whisper): its frames summarised by features.whisper.stats
)
FEATURE_STATS = (  # ser.features.stats.STATS
    "mean",
    "std",
    "min",
    "max",
    "median",
    "p10",
    "p90",
    "skew",
    "kurtosis",
    "slope",
)

AUGMENTATIONS = {  # ser.features.augment: each kind of perturbed copy and the (lowest, highest) value it takes
    "speed": (0.5, 2.0),  # the factor a file is played faster by
    "vtlp": (0.7, 1.4),  # the vocal tract length warp factor
    "noise": (-10.0, 60.0),  # the signal-to-noise ratio in dB
    "reverb": (0.05, 3.0),  # the room's reverberation time RT60 in seconds
    "pitch": (-6.0, 6.0),  # the pitch shift in semitones, at the same tempo
    "phone": (1000.0, 3800.0),  # the telephone channel's upper band edge in Hz (through 8 kHz and mu-law)
}
EVAL_CHANNELS = ("noise", "reverb", "phone")  # what timeline.eval.channel takes: a line or room, timing kept

SMOOTHINGS = ("average", "median", "viterbi")  # ser.timeline.smoothing.SMOOTHERS
