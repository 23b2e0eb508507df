"""A bundle's fitted model read from its skops file as arrays (:class:`ser.modeling.forward.Forward`), without
importing scikit-learn or skops: what ``ser predict``, ``ser timeline`` and ``ser serve`` predict with.

skops writes a tree of nodes (``schema.json``), each object a mapping of its attributes, each array an ``.npy``
entry of the zip. Only the models the default ``train`` section and its MLP variants make are read this way: a
pipeline of a ``StandardScaler`` (or a ``ColumnTransformer`` of them, ``train.blocks: equal``), then an
``MLPClassifier`` or a soft ``VotingClassifier`` of them (``train.ensemble``), inside ``TemperatureScaled``
(``train.calibrate``) or not. Anything else (``train.model: svm`` or ``logreg``) gives None, and the caller loads
the model with skops. Arrays are read with ``allow_pickle=False``; the bundle's types were checked against its
trusted list before (:func:`ser.inference.bundle.load_for_prediction`).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from ser.modeling.forward import ACTIVATIONS, Blocks, Forward, Network, Scaler

PIPELINE = "sklearn.pipeline.Pipeline"
SCALER = "sklearn.preprocessing._data.StandardScaler"
COLUMNS = "sklearn.compose._column_transformer.ColumnTransformer"
CALIBRATED = "ser.modeling.calibration.TemperatureScaled"
VOTING = "sklearn.ensemble._voting.VotingClassifier"
MLP = "sklearn.neural_network._multilayer_perceptron.MLPClassifier"


class Unsupported(Exception):
    """The model holds something :class:`~ser.modeling.forward.Forward` does not compute."""


class _Tree:
    """The nodes of one skops file, read on demand: plain values, arrays from the zip, objects as their type name
    and attributes."""

    def __init__(self, archive: zipfile.ZipFile, schema: dict):
        self.archive = archive
        self.saved: dict[int, dict] = {}  # __id__ -> the node first saved with it (a CachedNode refers to it)
        pending = [schema]
        while pending:
            node = pending.pop()
            if isinstance(node, dict):
                if node.get("__loader__") not in (None, "CachedNode") and "__id__" in node:
                    self.saved.setdefault(node["__id__"], node)
                pending.extend(node.values())
            elif isinstance(node, list):
                pending.extend(node)

    def node(self, node: dict) -> dict:
        if node.get("__loader__") == "CachedNode":
            return self.saved[node["__id__"]]
        return node

    def kind(self, node: dict) -> str:
        node = self.node(node)
        return f"{node.get('__module__')}.{node.get('__class__')}"

    def attributes(self, node: dict, kind: str) -> dict:
        """The attribute nodes of an object node of type ``kind``."""
        node = self.node(node)
        if self.kind(node) != kind or node.get("__loader__") != "ObjectNode":
            raise Unsupported(self.kind(node))
        return self.node(node["content"])["content"]

    def value(self, node: dict):
        """A node as a Python value: JSON, lists, tuples, str-keyed dicts and numpy arrays; objects are refused."""
        node = self.node(node)
        loader = node.get("__loader__")
        if loader == "JsonNode":
            return json.loads(node["content"])
        if loader in ("ListNode", "TupleNode"):
            values = [self.value(item) for item in node["content"]]
            return values if loader == "ListNode" else tuple(values)
        if loader == "DictNode" and self.kind(node) == "builtins.dict":
            return {key: self.value(item) for key, item in node["content"].items()}
        if loader == "NdArrayNode" and node.get("type") == "numpy":
            with self.archive.open(node["file"]) as entry:
                array = np.load(entry, allow_pickle=False)
            return array if self.kind(node) == "numpy.ndarray" else array[()]
        if loader == "NdArrayNode" and node.get("type") == "json":  # an object array: the class names
            return np.array([self.value(item) for item in node["content"]], dtype=object)
        raise Unsupported(f"{loader} {self.kind(node)}")


def step_names(schema: dict) -> str:
    """The class names of a saved model's steps, e.g. ``StandardScaler -> TemperatureScaled`` (its own class name
    when it is not a pipeline), read from its skops file's parsed ``schema.json`` alone."""
    tree = _Tree(None, schema)
    if tree.kind(schema) != PIPELINE:
        return schema["__class__"]
    steps = tree.node(tree.attributes(schema, PIPELINE)["steps"])["content"]
    return " -> ".join(tree.node(tree.node(step)["content"][1])["__class__"] for step in steps)


def forward_model(model_path: str | Path, schema: dict) -> Forward | None:
    """The model in the skops file ``model_path`` (whose parsed ``schema.json`` is ``schema``) as a
    :class:`~ser.modeling.forward.Forward`, or None when it holds a model that does not compute."""
    with zipfile.ZipFile(model_path) as archive:
        tree = _Tree(archive, schema)
        try:
            return _pipeline(tree, schema)
        except (Unsupported, KeyError, TypeError, ValueError):
            return None


def _pipeline(tree: _Tree, node: dict) -> Forward:
    steps = [tree.node(step)["content"][1] for step in tree.node(tree.attributes(node, PIPELINE)["steps"])["content"]]
    if len(steps) not in (1, 2):
        raise Unsupported("pipeline steps")
    scale = _scale(tree, steps[0]) if len(steps) == 2 else None
    last, temperatures = steps[-1], None
    if tree.kind(last) == CALIBRATED:
        attributes = tree.attributes(last, CALIBRATED)
        temperatures = {mode: float(t) for mode, t in tree.value(attributes["temperatures_"]).items()}
        last = attributes["classifier_"]
    if tree.kind(last) == VOTING:
        attributes = tree.attributes(last, VOTING)
        if tree.value(attributes["voting"]) != "soft" or tree.value(attributes["weights"]) is not None:
            raise Unsupported("voting")
        networks = tuple(_network(tree, member) for member in tree.node(attributes["estimators_"])["content"])
        classes = tree.value(attributes["classes_"])
    else:
        networks = (_network(tree, last),)
        classes = tree.value(tree.attributes(last, MLP)["classes_"])
    first = tree.attributes(steps[0], tree.kind(steps[0])) if scale is not None else None
    takes = tree.value(first["n_features_in_"]) if first is not None else len(networks[0].coefs[0])
    return Forward(classes, int(takes), scale, networks, temperatures)


def _scaler(tree: _Tree, node: dict) -> Scaler:
    attributes = tree.attributes(node, SCALER)
    return Scaler(
        tree.value(attributes["mean_"]) if tree.value(attributes["with_mean"]) else None,
        tree.value(attributes["scale_"]) if tree.value(attributes["with_std"]) else None,
    )


def _scale(tree: _Tree, node: dict) -> Scaler | Blocks:
    if tree.kind(node) == SCALER:
        return _scaler(tree, node)
    attributes = tree.attributes(node, COLUMNS)
    weights = tree.value(attributes["transformer_weights"]) or {}
    parts = []
    for entry in tree.node(attributes["transformers_"])["content"]:
        name_node, scaler, columns = tree.node(entry)["content"]
        name, columns = tree.value(name_node), np.asarray(tree.value(columns), dtype=np.intp)
        if tree.node(scaler).get("__loader__") == "JsonNode" and tree.value(scaler) == "drop":
            continue
        if columns.ndim != 1:
            raise Unsupported("columns")
        parts.append((columns, _scaler(tree, scaler), weights.get(name)))
    return Blocks(tuple(parts))


def _network(tree: _Tree, node: dict) -> Network:
    attributes = tree.attributes(node, MLP)
    activation, out = tree.value(attributes["activation"]), tree.value(attributes["out_activation_"])
    if activation not in ACTIVATIONS or out not in ("softmax", "logistic"):
        raise Unsupported("activation")
    coefs, intercepts = tree.value(attributes["coefs_"]), tree.value(attributes["intercepts_"])
    if len(coefs) != len(intercepts) or not coefs:
        raise Unsupported("layers")
    return Network(tuple(coefs), tuple(intercepts), activation, out)
