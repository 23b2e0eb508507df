"""The classifier: standardisation (each feature block weighted equally), then an MLP (default), an RBF SVM
or logistic regression, with its probabilities calibrated on speakers it did not train on.

Per-speaker normalisation (``train.normalize``) is not a pipeline step: it needs to
know which rows share a speaker, so :func:`fit_model` normalises the features it is given
(:func:`ser.modeling.normalize.normalize`), and callers normalise the rows they predict
(evaluate, crossvalidate and ``ser predict`` do; the bundle's ``model.json`` records the method
under ``normalize``).

Feature blocks: a learned encoder (``whisper``) and each openSMILE functional set are a
block of their own, and the project's frame-statistics families together form one. With
``train.blocks: equal`` every block carries the same total variance after
standardisation, so 2,280 handcrafted columns do not drown 1,024 encoder columns (an
L2-penalised model would otherwise lean on whichever block has more columns); with
``columns`` every column weighs the same. With a single block the two are the same.

Calibration (``train.calibrate``): the classifier is wrapped in
:class:`ser.modeling.calibration.TemperatureScaled`, a temperature per normalisation mode.
"""

from __future__ import annotations

import warnings
from functools import partial

import numpy as np
from joblib import parallel_config
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits

from ser.config import CALIBRATION_MODES, TrainParams
from ser.cores import usable_cores
from ser.errors import SerError
from ser.forked import ForkedCalls
from ser.modeling.calibration import CALIBRATION_FOLDS, TemperatureScaled, fit_temperature
from ser.modeling.normalize import normalize, normalize_held_out, reference_statistics
from ser.progress import progress_bar

BLOCK_FAMILIES = ("whisper", "egemaps", "compare")  # each its own block; every other family is "handcrafted"


def feature_blocks(columns: list[str]) -> dict[str, list[int]]:
    """Column indices of each feature block, in order of first appearance.

    Parameters
    ----------
    columns : list of str
        Feature column names, ``{family}_...`` (:func:`ser.features.families.feature_names`).

    Returns
    -------
    dict of str to list of int
        ``whisper``, ``egemaps`` and ``compare`` are a block each; every other family belongs to ``handcrafted``.
    """
    blocks: dict[str, list[int]] = {}
    for index, column in enumerate(columns):
        family = column.split("_", 1)[0]
        blocks.setdefault(family if family in BLOCK_FAMILIES else "handcrafted", []).append(index)
    return blocks


def _mlp(params: TrainParams, seed: int) -> MLPClassifier:
    return MLPClassifier(
        alpha=params.alpha,
        batch_size=params.batch_size,
        hidden_layer_sizes=params.hidden_layer_sizes,
        learning_rate=params.learning_rate,
        max_iter=params.max_iter,
        solver=params.solver,
        random_state=seed,
    )


def build_classifier(params: TrainParams):
    """The unfitted classifier that ``train.model`` names, with its own params.

    Parameters
    ----------
    params : ser.config.TrainParams
        The ``train`` section: ``model`` (``mlp``, ``logreg`` or ``svm``), its keys, ``seed`` and ``ensemble``.

    Returns
    -------
    sklearn.base.ClassifierMixin
        An ``MLPClassifier`` (or a soft-voting ensemble of ``train.ensemble`` of them, differing in seed), a
        ``LogisticRegression``, or an RBF ``SVC`` with Platt-scaled probabilities.
    """
    if params.model == "svm":
        # Probabilities (evaluate's ROC and precision-recall curves need them) by Platt scaling on 5 internal
        # folds; ensemble=False keeps one SVM fitted on all training rows (as libsvm's own probability=True does).
        return CalibratedClassifierCV(
            SVC(kernel="rbf", C=params.svm.C, gamma=params.svm.gamma), method="sigmoid", cv=5, ensemble=False
        )
    if params.model == "logreg":
        return LogisticRegression(C=params.logreg.C, max_iter=params.logreg.max_iter, random_state=params.seed)
    if params.ensemble == 1:
        return _mlp(params, params.seed)
    # train.ensemble MLPs that differ only in their seed, their probabilities averaged; fitted on every core at once
    return VotingClassifier(
        [(f"seed{params.seed + i}", _mlp(params, params.seed + i)) for i in range(params.ensemble)],
        voting="soft",
        n_jobs=-1,
    )


def build_scaler(params: TrainParams, columns: list[str]):
    """Standardisation of every column, each block weighted as ``train.blocks`` says.

    Parameters
    ----------
    params : ser.config.TrainParams
        Its ``blocks``: ``equal`` (each feature block the same total variance) or ``columns``.
    columns : list of str
        The feature column names, which give the blocks (:func:`feature_blocks`).

    Returns
    -------
    sklearn.preprocessing.StandardScaler or sklearn.compose.ColumnTransformer
        A ``StandardScaler`` for one block or ``columns``; else one per block, weighted
        ``sqrt(n / (k * m))`` for a block of ``m`` of the ``n`` columns, one of ``k`` blocks.
    """
    blocks = feature_blocks(columns)
    if params.blocks == "columns" or len(blocks) == 1:
        return StandardScaler()
    # weight sqrt(n / (k * m)) on a block of m of the n columns, one of k blocks: each block's variance n / k
    return ColumnTransformer(
        [(name, StandardScaler(), indices) for name, indices in blocks.items()],
        transformer_weights={
            name: float(np.sqrt(len(columns) / (len(blocks) * len(indices)))) for name, indices in blocks.items()
        },
    )


def build_model(params: TrainParams, columns: list[str]) -> Pipeline:
    """An unfitted pipeline for the feature ``columns``; what is fitted and saved is exactly what predicts.

    Parameters
    ----------
    params : ser.config.TrainParams
        The ``train`` section of ``params.yaml``: the classifier and its keys, ``scale``, ``blocks``,
        ``calibrate``.
    columns : list of str
        The feature column names of the rows it will be fitted on, in order.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Steps ``scale`` (if ``train.scale``) and the classifier, named by ``train.model``, wrapped in
        :class:`ser.modeling.calibration.TemperatureScaled` if ``train.calibrate``. Fit it with
        :func:`fit_model`, which fits the calibration on held-out speakers.

    Examples
    --------
    >>> from ser.config import TrainParams
    >>> model = build_model(TrainParams(), ["mfcc_mean_00", "mfcc_mean_01"])
    >>> [name for name, _ in model.steps]
    ['scale', 'mlp']
    """
    steps = [("scale", build_scaler(params, columns))] if params.scale else []
    classifier = build_classifier(params)
    steps.append(
        (params.model, TemperatureScaled(classifier, params.calibrate_per_mode) if params.calibrate else classifier)
    )
    return Pipeline(steps)


def without_calibration(model):
    """``model`` without its temperatures: the same labels for a fourth of the fitting.

    A temperature keeps the argmax, so scores that count only labels need not fit them.

    Parameters
    ----------
    model : sklearn.pipeline.Pipeline or classifier
        As :func:`build_model` returns it, or its last step.

    Returns
    -------
    sklearn.pipeline.Pipeline or classifier
        The same steps with the :class:`ser.modeling.calibration.TemperatureScaled` wrapper removed (``model``
        itself when it has none).
    """
    if isinstance(model, Pipeline) and isinstance(model[-1], TemperatureScaled):
        name, last = model.steps[-1]
        return Pipeline([*model.steps[:-1], (name, last.classifier)])
    return model.classifier if isinstance(model, TemperatureScaled) else model


def fit_model(
    model, features, y, speakers, normalization: str, progress: bool = False, copies=None, processes: int = 1
):
    """Fit ``model`` on rows whose speakers are known, normalised as ``normalization`` says.

    A calibrated model (:class:`ser.modeling.calibration.TemperatureScaled`) first gets a temperature per
    normalisation mode: copies without calibration are fitted on :data:`~ser.modeling.calibration.CALIBRATION_FOLDS`
    folds of the speakers (grouped, so no speaker is on both sides), and each mode's temperature minimises the log
    loss of their probabilities on the held-out speakers normalised in that mode (:func:`fit_held_out`).

    The rows are fitted in float32, which scikit-learn keeps through the scaler and the MLP: its matrix
    products take about 0.6 of the time (same epochs, probabilities equal to 1e-4 on the demo corpus);
    predicting accepts float32 or float64 rows.

    Parameters
    ----------
    model : sklearn.pipeline.Pipeline or classifier
        As :func:`build_model` returns it.
    features : array_like
        Shape ``(n_files, n_features)``, before any normalisation.
    y : array_like
        Shape ``(n_files,)``, the emotions.
    speakers : array_like
        Shape ``(n_files,)``, each row's speaker id: the normalisation and the calibration's folds group them.
    normalization : str
        ``train.normalize``: ``none`` or ``speaker`` (:func:`ser.modeling.normalize.normalize`).
    progress : bool
        A bar on stderr (if it is a terminal) counting the classifier's fits: each calibration fold's and the one on
        every row.
    copies : tuple of numpy.ndarray, optional
        ``(features, y, speakers, sources)`` of perturbed copies of these rows' files (``speakers`` their
        pseudo-speakers, :mod:`ser.features.augment`; ``sources`` the index of each copy's source row), trained on
        beside the rows: in the calibration's folds only the copies of the fold's training rows, and never scored.
    processes : int, default 1
        With 2 or more, the calibration's folds are fitted in forked processes, all at once
        (:class:`~ser.forked.ForkedCalls`), while the fit on every row is made in this one; 1: one after another in
        this one.

    Returns
    -------
    sklearn.pipeline.Pipeline or classifier
        ``model``, fitted.

    Raises
    ------
    ser.errors.SerError
        A calibrated model with fewer than 2 training speakers (its temperatures are fitted on held-out ones).
    """
    features, y, speakers = np.asarray(features), np.asarray(y), np.asarray(speakers)
    last = model[-1] if isinstance(model, Pipeline) else model
    calibrated = isinstance(last, TemperatureScaled)
    folds = _calibration_folds(features, y, speakers) if calibrated else []
    calls = [
        partial(_held_out_probabilities, model, features, y, speakers, train, test, normalization, copies)
        for train, test in folds
    ]
    with (
        progress_bar(desc="train", unit="fit", total=len(folds) + 1, shown=progress) as bar,
        ForkedCalls(calls, processes if processes > 1 else 0) as running,
    ):
        # forked, the folds run while the fit on every row is made here, so that the model object is this process's
        # own (what skops saves records which of its values are one object); else the folds first, one by one
        forked = bool(running.processes)
        held_out = [] if forked else _counted(running.results(), bar)
        _fit_every_row(model, features, y, speakers, normalization, copies, calibrated)
        bar.update()
        if forked:
            held_out = _counted(running.results(), bar)
    if calibrated:
        last.set_temperatures(_temperatures(held_out, folds, y, last.per_mode))
    return model


def _counted(results, bar) -> list:
    """``results`` as a list, ``bar`` moved on by one after each (its ``update`` returns whether it redrew)."""
    collected = []
    for result in results:
        collected.append(result)
        bar.update()
    return collected


def _fit_every_row(model, features, y, speakers, normalization: str, copies, calibrated: bool) -> None:
    """Fit ``model`` on every row and their copies; a calibrated one at temperature 1 in every mode until the
    folds' temperatures are set (they change no fitted weight, so this fit need not wait for them)."""
    if copies is not None:
        features, y, speakers = (np.concatenate(pair) for pair in zip((features, y, speakers), copies[:3]))
    X = np.asarray(normalize(features, speakers, normalization), dtype=np.float32)
    with warnings.catch_warnings():  # a batch larger than a small corpus is clipped to it: nothing to act on
        warnings.filterwarnings("ignore", message="Got `batch_size` less than 1 or larger than sample size")
        # an MLP that reaches train.max_iter stops there by setting: on a small corpus (one step an epoch) it does
        warnings.filterwarnings("ignore", message="Stochastic Optimizer: Maximum iterations")
        if not calibrated:
            model.fit(X, y)
            return
        unscaled = dict.fromkeys(CALIBRATION_MODES, 1.0)
        if isinstance(model, Pipeline):
            model.fit(X, y, **{f"{model.steps[-1][0]}__temperatures": unscaled})
        else:
            model.fit(X, y, unscaled)


def fit_held_out(model, features, y, speakers, train, test, normalization: str, copies=None):
    """``model`` without calibration fitted on rows ``train``, and rows ``test`` normalised on their own the two
    ways they are scored: the test speakers' recordings together, and each recording alone (one clip, as
    ``ser predict`` takes one file, against the training rows'
    :func:`~ser.modeling.normalize.reference_statistics`).

    Parameters
    ----------
    model : sklearn.pipeline.Pipeline or classifier
        As :func:`build_model` returns it; fitted without its calibration.
    features : numpy.ndarray
        Shape ``(n_files, n_features)``, before any normalisation.
    y, speakers : numpy.ndarray
        Shape ``(n_files,)``: the emotions, and each row's speaker id.
    train, test : numpy.ndarray
        Row indices of the two sides (no speaker on both).
    normalization : str
        ``train.normalize``: ``none`` or ``speaker``.
    copies : tuple of numpy.ndarray, optional
        ``(features, y, pseudo-speakers, source rows)`` of perturbed copies (:mod:`ser.features.augment`): the
        copies of rows ``train`` are trained on beside them (:func:`fit_model`); the others (of ``test``) never.

    Returns
    -------
    tuple
        ``(fitted, (together, alone))``: the fitted model, and the test rows normalised each way
        (:func:`ser.modeling.normalize.normalize_held_out`).
    """
    fitted = fit_model(
        clone(without_calibration(model)),
        features[train],
        y[train],
        speakers[train],
        normalization,
        copies=copies_of(copies, train),
    )
    reference = reference_statistics(features[train], speakers[train]) if normalization == "speaker" else None
    return fitted, normalize_held_out(features[test], speakers[test], normalization, reference)


def copies_of(copies, rows):
    """The copies of the rows ``rows``: a copy of any other row (held out) is never among them.

    Parameters
    ----------
    copies : tuple of numpy.ndarray, or None
        ``(features, y, pseudo-speakers, source rows)`` of perturbed copies (:mod:`ser.features.augment`), each
        copy's source row an index into the rows ``rows`` index.
    rows : array_like
        Indices of the rows kept (a fold's training side).

    Returns
    -------
    tuple of numpy.ndarray, or None
        The same four parts for the copies of ``rows`` only, their source rows renumbered to positions in ``rows``;
        None for ``copies`` None.
    """
    if copies is None:
        return None
    rows, sources = np.asarray(rows), np.asarray(copies[3])
    position = np.full(max(int(rows.max(initial=-1)), int(sources.max(initial=-1))) + 1, -1)
    position[rows] = np.arange(len(rows))
    kept = np.flatnonzero(position[sources] >= 0)
    return (*(np.asarray(part)[kept] for part in copies[:3]), position[sources[kept]])


def _calibration_folds(features, y, speakers) -> list[tuple[np.ndarray, np.ndarray]]:
    """The calibration's folds of the training speakers (:data:`~ser.modeling.calibration.CALIBRATION_FOLDS`,
    grouped by speaker)."""
    count = len(set(speakers))
    if count < 2:  # the temperatures are fitted on speakers held out of training: it takes two
        raise SerError(
            f"train.calibrate needs at least 2 training speakers, and the model is trained on "
            f"{count}; give a corpus of more speakers (or a smaller split.test_size), or set "
            "train.calibrate=false"
        )
    return list(GroupKFold(n_splits=min(CALIBRATION_FOLDS, count)).split(features, y, speakers))


def _held_out_probabilities(model, features, y, speakers, train, test, normalization: str, copies) -> dict:
    """The probabilities of ``model`` without calibration fitted on rows ``train`` for rows ``test``, normalised in
    each mode of :data:`~ser.config.CALIBRATION_MODES`, as columns of every class of ``y``."""
    fitted, rows = fit_held_out(model, features, y, speakers, train, test, normalization, copies)
    classes = np.unique(y)
    columns = np.searchsorted(classes, fitted.classes_)
    probabilities = {}
    for mode, X in zip(CALIBRATION_MODES, rows):
        probabilities[mode] = np.zeros((len(test), len(classes)))
        probabilities[mode][:, columns] = fitted.predict_proba(X)
    return probabilities


def _temperatures(held_out: list[dict], folds, y, per_mode: bool) -> dict[str, float]:
    """A temperature per mode of :data:`~ser.config.CALIBRATION_MODES`, fitted to the folds' probabilities on
    speakers they did not train on (:func:`_held_out_probabilities`), normalised in that mode. Unless ``per_mode``,
    the temperature fitted in the first mode (a speaker's recordings together) serves every mode: chosen by nested
    selection (docs/whisper.md)."""
    classes = np.unique(y)
    probabilities = {mode: np.zeros((len(y), len(classes))) for mode in CALIBRATION_MODES}
    for (_, test), fold in zip(folds, held_out):
        for mode in CALIBRATION_MODES:
            probabilities[mode][test] = fold[mode]
    labels = np.searchsorted(classes, y)
    if not per_mode:
        shared = fit_temperature(probabilities[CALIBRATION_MODES[0]], labels)
        return dict.fromkeys(CALIBRATION_MODES, shared)
    return {mode: fit_temperature(probabilities[mode], labels) for mode in CALIBRATION_MODES}


def train_model(
    params: TrainParams, columns: list[str], features, emotions, speakers, progress: bool = False, copies=None
):
    """A model of ``params`` fitted on rows whose speakers are known, as the train and train_timeline stages fit one.

    Parameters
    ----------
    params : ser.config.TrainParams
        The ``train`` section: the model (:func:`build_model`) and ``normalize``.
    columns : list of str
        The feature names of the columns of ``features``.
    features : array_like
        Shape ``(n_rows, n_features)``, before any normalisation: each speaker's rows are normalised as
        ``params.normalize`` says (:func:`ser.modeling.normalize.normalize`).
    emotions : array_like
        Shape ``(n_rows,)``, each row's emotion.
    speakers : array_like
        Shape ``(n_rows,)``, each row's speaker id (normalisation and the calibration's folds group them).
    progress : bool, default False
        Show a progress bar of the model fits on stderr.
    copies : tuple of numpy.ndarray, optional
        ``(features, emotions, pseudo-speakers, source rows)`` of perturbed copies of these rows (:func:`fit_model`).

    Returns
    -------
    sklearn.pipeline.Pipeline or classifier
        Fitted (:func:`fit_model`): each calibration fold's fit in a forked process of its own, while the ensemble's
        members of the fit on every row are fitted in forked processes, one per core; one BLAS thread each. A forked
        process starts with the libraries this one has imported, where joblib's default
        workers start afresh and import scikit-learn again (about 2 s of CPU each, per stage); one thread per
        process, as those workers have, keeps the fitted model byte-identical.
    """
    model = build_model(params, columns)
    processes = CALIBRATION_FOLDS if usable_cores() > 1 else 1
    with parallel_config(backend="multiprocessing"), threadpool_limits(1):
        return fit_model(
            model, features, emotions, speakers, params.normalize, progress=progress, copies=copies, processes=processes
        )


def loss_curve(model: Pipeline) -> list[float]:
    """Training loss per epoch, averaged over an ensemble's members still training at that epoch.

    Parameters
    ----------
    model : sklearn.pipeline.Pipeline
        A fitted model of :func:`build_model`.

    Returns
    -------
    list of float
        One loss per epoch; empty for models and solvers that do not record one.
    """
    classifier = getattr(model[-1], "classifier_", model[-1])
    members = getattr(classifier, "estimators_", [classifier])
    curves = [getattr(member, "loss_curve_", []) for member in members]
    epochs = max(map(len, curves), default=0)
    return [float(np.mean([curve[epoch] for curve in curves if epoch < len(curve)])) for epoch in range(epochs)]
