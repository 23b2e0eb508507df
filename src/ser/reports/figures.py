"""PNG figures of the evaluation: confusion matrix, ROC, precision-recall, loss curve, class counts and
per-speaker UAR."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from ser.files import atomic_path  # noqa: E402

if TYPE_CHECKING:
    import pandas as pd


def save_figure(figure, path: str | Path) -> None:
    """Save ``figure`` as PNG atomically and close it."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)


def confusion_figure(y_true, y_pred, classes):
    """Counts of actual (rows) against predicted (columns) classes."""
    from sklearn.metrics import confusion_matrix  # only evaluate draws one: the other stages skip a second's import

    matrix = confusion_matrix(y_true, y_pred, labels=list(classes))
    figure, axes = plt.subplots(figsize=(1.0 + 0.7 * len(classes), 0.8 + 0.6 * len(classes)))
    image = axes.imshow(matrix, cmap="Blues")
    for (row, column), count in np.ndenumerate(matrix):
        colour = "white" if count > matrix.max() / 2 else "black"
        axes.text(column, row, str(count), ha="center", va="center", color=colour)
    axes.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    axes.set_yticks(range(len(classes)), classes)
    axes.set(xlabel="predicted", ylabel="actual", title="Confusion matrix (test set)")
    figure.colorbar(image, ax=axes, fraction=0.046)
    return figure


def curve_figure(points: pd.DataFrame, x: str, y: str, title: str, scores: dict[str, float | None], score_name: str):
    """One line per emotion (``points``' column ``emotion``), labelled with that emotion's area score."""
    figure, axes = plt.subplots(figsize=(6, 5))
    for label, group in points.groupby("emotion", sort=False):
        score = scores.get(label)
        axes.plot(group[x], group[y], label=f"{label} ({score_name} {score:.2f})" if score is not None else label)
    if x == "fpr":
        axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    axes.set(xlabel=x, ylabel=y, title=title, xlim=(0, 1), ylim=(0, 1.02))
    axes.legend(loc="best", fontsize="small")
    return figure


def loss_figure(losses: list[float]):
    """Training loss per epoch."""
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(range(1, len(losses) + 1), losses)
    axes.set(xlabel="epoch", ylabel="training loss", title="MLP loss curve")
    if not losses:
        axes.text(
            0.5,
            0.5,
            "no loss curve: this model is not trained by epochs",
            ha="center",
            va="center",
            transform=axes.transAxes,
        )
    return figure


def class_counts_figure(counts: pd.DataFrame):
    """Files per emotion (columns emotion, set, count): one bar per set, side by side."""
    emotions = list(dict.fromkeys(counts["emotion"]))
    sets = list(dict.fromkeys(counts["set"]))
    height = 0.8 / len(sets)
    figure, axes = plt.subplots(figsize=(6, 1.0 + 0.45 * len(emotions)))
    for i, part in enumerate(sets):
        mine = counts[counts["set"] == part].set_index("emotion")["count"].reindex(emotions, fill_value=0)
        bars = axes.barh(
            np.arange(len(emotions)) + (i - (len(sets) - 1) / 2) * height,
            mine.to_numpy(),
            height,
            label=f"{part} ({mine.sum()} files)",
        )
        axes.bar_label(bars, padding=2, fontsize="small")
    axes.set_yticks(range(len(emotions)), emotions)
    axes.invert_yaxis()
    axes.set(xlabel="files", title="Class distribution")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=len(sets), fontsize="small", frameon=False)
    return figure


def speaker_uar_figure(per_speaker: dict[str, dict], title: str):
    """Each speaker's UAR as a bar, sorted from lowest to highest, with the mean over speakers as a line."""
    ordered = sorted(per_speaker, key=lambda s: (per_speaker[s]["uar"], s))
    uars = [per_speaker[s]["uar"] for s in ordered]
    mean = float(np.mean(uars))
    figure, axes = plt.subplots(figsize=(max(6.0, 1.5 + 0.4 * len(ordered)), 4))
    bars = axes.bar(range(len(ordered)), uars, color="tab:blue")
    axes.bar_label(bars, fmt="%.2f", padding=2, fontsize="x-small")
    axes.axhline(mean, color="tab:red", linestyle="--", label=f"mean over speakers: {mean:.3f}")
    axes.set_xticks(range(len(ordered)), ordered, rotation=90 if len(ordered) > 30 else 0)
    axes.set(xlabel="speaker (lowest UAR first)", ylabel="UAR", ylim=(0, 1.1), title=title)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), fontsize="small", frameon=False)
    return figure


def timeline_figure(truth, predicted, duration: float, emotions: list[str], title: str):
    """Two bands over time, the truth's segments above the timeline's (each with ``start``, ``end``, ``emotion``),
    one colour per emotion of ``emotions``; ``uncertain`` is grey, non-speech blank."""
    colours = dict(zip(emotions, plt.get_cmap("tab10").colors)) | {"uncertain": (0.75, 0.75, 0.75)}
    figure, axes = plt.subplots(figsize=(10, 2.4))
    for row, segments in ((1, truth), (0, predicted)):
        for segment in segments:
            axes.broken_barh(
                [(segment.start, segment.end - segment.start)],
                (row - 0.4, 0.8),
                facecolors=colours.get(segment.emotion, "black"),
            )
    axes.set_yticks([0, 1], ["timeline", "truth"])
    axes.set(xlim=(0, duration), ylim=(-0.6, 1.6), xlabel="seconds", title=title)
    shown = [e for e in colours if any(s.emotion == e for s in (*truth, *predicted))]
    axes.legend(
        handles=[Patch(color=colours[e], label=e) for e in shown],
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        fontsize="small",
        frameon=False,
    )
    return figure
