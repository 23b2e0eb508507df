"""Whisper's encoder as one ONNX Runtime graph: every chosen layer's frames from a single pass.

The graph is built in memory from the digest-checked weights (:mod:`ser.features.weights`): Whisper's two
convolutions with GELU, the sinusoidal positions, then pre-norm blocks of self-attention and feed-forward up to
the deepest chosen layer; after each chosen layer the running frames pass through the encoder's final layer norm
into an output of their own (``layer2``, ``layer3``, ...). So layers 2, 3 and 4 cost one pass through 4 layers.

``compute_type`` ``float32`` runs every product in float32. ``int8`` runs the blocks' linear layers as CTranslate2
does: the weights quantised per output column and each frame of their input per row, both symmetric (the largest
magnitude to 127), the products summed in int32 (``MatMulInteger``) and scaled back; the convolutions, attention
scores and norms stay float32.

Each process runs its own session with one thread, so a file's frames are the same in any worker.

Building the graph (quantising the weights) takes about half a second, so it is built once per machine and kept in
the user cache folder (:func:`ser.files.user_cache_dir`), keyed by the weights file (checked by digest on every use
before it gets here), the layers, the arithmetic and the code that builds it; each kept graph is named with its own
sha256 and read back only when its bytes match it.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from ser.features import onnx_graph
from ser.features.weights import WhisperError, encoder_layers, model_file
from ser.files import atomic_path, code_digest, stat_key, user_cache_dir

RUNTIME = "onnxruntime"
OPSETS = {"": 20}  # ONNX's operators (Gelu from 20)
FLOAT, UINT8 = 1, 2  # TensorProto.DataType, for Cast
TINY = np.finfo(np.float32).tiny
EPSILON = 1e-5  # Whisper's layer norms
GRAPH_CACHE = "encoder-graphs"  # the folder of built graphs in the user cache folder


def session(model: bytes):
    """An ONNX Runtime session of ``model`` on the CPU with one thread (ONNX Runtime is imported here, on first
    use). Its memory pattern (one block planned per input length) is off: with inputs of ever new lengths it kept
    far more memory than a run needs, at no gain in speed (docs/timeline.md, Speed and memory)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.enable_mem_pattern = False
    try:
        return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as error:  # ONNX Runtime raises classes of its own for a model it cannot run
        raise WhisperError(f"features.whisper: ONNX Runtime cannot run the encoder graph ({error})") from None


def graph_digest(folder: Path, layers, compute_type: str) -> str:
    """The sha256 of the graph that computes ``features.whisper.layers`` from the weights in ``folder``."""
    return hashlib.sha256(graph(folder, encoder_layers(folder, layers), compute_type)).hexdigest()


def runtime_version() -> str:
    import importlib.metadata

    return importlib.metadata.version(RUNTIME)


class _Builder:
    """Nodes and initialisers of one graph, each value named once."""

    def __init__(self, compute_type: str):
        self.compute_type = compute_type
        self.nodes: list[bytes] = []
        self.initializers: list[bytes] = []
        self.count = 0
        if compute_type == "int8":  # the constants every int8 product shares
            self.constant("last_axis", np.array([-1], np.int64))
            self.constant("tiny", np.array(TINY, np.float32))
            self.constant("int8_max", np.array(127, np.float32))
            self.constant("offset", np.array(128, np.float32))
            self.constant("zero_point", np.array(128, np.uint8))

    def constant(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(onnx_graph.tensor(name, array))
        return name

    def op(self, op_type: str, *inputs: str, outputs: int = 1, name: str = "", **attributes) -> str | list[str]:
        """The output name(s) of a new node: ``name``, or numbered in the order the nodes are made."""
        self.count += 1
        names = [name] if name else [f"{op_type.lower()}{self.count}_{k}" for k in range(outputs)]
        self.nodes.append(onnx_graph.node(op_type, list(inputs), names, attributes))
        return names[0] if outputs == 1 else names

    def linear(self, x: str, name: str, weight: np.ndarray, bias: np.ndarray) -> str:
        """``x @ weight.T + bias``: in float32, or in int8 with a scale per output column of the weight and per
        row (frame) of ``x``, the integer products summed exactly in int32."""
        matrix = np.ascontiguousarray(weight.T)  # (inputs, outputs)
        if self.compute_type == "float32":
            product = self.op("MatMul", x, self.constant(name + "/weight", matrix))
            return self.op("Add", product, self.constant(name + "/bias", bias))
        columns = np.maximum(np.abs(matrix).max(axis=0), TINY) / 127
        quantised = np.clip(np.round(matrix / columns), -127, 127).astype(np.int8)
        rows = self.op("Div", self.op("Max", self.op("ReduceMax", self.op("Abs", x), "last_axis"), "tiny"), "int8_max")
        # each frame as uint8 around 128 (ONNX Runtime's fast integer kernels take uint8 by int8)
        shifted = self.op("Cast", self.op("Add", self.op("Round", self.op("Div", x, rows)), "offset"), to=UINT8)
        product = self.op("MatMulInteger", shifted, self.constant(name + "/weight", quantised), "zero_point")
        product = self.op(
            "Mul",
            self.op("Mul", self.op("Cast", product, to=FLOAT), rows),
            self.constant(name + "/scale", columns.astype(np.float32)),
        )
        return self.op("Add", product, self.constant(name + "/bias", bias))

    def norm(self, x: str, gamma: str, beta: str, output: str = "") -> str:
        """Layer norm of ``x`` over its last axis, with the named constants ``gamma`` and ``beta``."""
        return self.op("LayerNormalization", x, gamma, beta, axis=-1, epsilon=EPSILON, name=output)

    def weights(self, prefix: str, *names: str, source) -> list[str]:
        """Constants named ``{prefix}/{name}``, each the variable of the same name read by ``source``."""
        return [self.constant(f"{prefix}/{name}", source(f"{prefix}/{name}")) for name in names]


@lru_cache(maxsize=4)
def graph(folder: Path, layers: tuple[int, ...], compute_type: str) -> bytes:
    """The ONNX model of the encoder in ``folder`` whose outputs are ``layer{k}`` for each of ``layers`` (sorted):
    ``(1, frames, width)`` float32 each, from the input ``mel``, ``(1, mel bands, mel frames)`` of at most 30 s.
    Read from the user cache folder when it was built before on this machine, else built and kept there."""
    cache = user_cache_dir() / GRAPH_CACHE
    key = json.dumps(
        [
            stat_key((folder / "model.bin").stat()),
            list(layers),
            compute_type,
            code_digest("ser.features.encoder", "ser.features.onnx_graph"),
            np.__version__,
        ]
    )
    key = hashlib.sha256(key.encode()).hexdigest()[:32]
    for kept in sorted(cache.glob(f"{key}-*.onnx")):
        try:
            model = kept.read_bytes()
        except OSError:
            continue
        if hashlib.sha256(model).hexdigest() == kept.stem.removeprefix(f"{key}-"):
            return model
    model = _build(folder, layers, compute_type)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache / f"{key}-{hashlib.sha256(model).hexdigest()}.onnx") as tmp:
            tmp.write_bytes(model)
    except OSError:  # a cache folder this user cannot write: the graph is built again next time
        pass
    return model


def _build(folder: Path, layers: tuple[int, ...], compute_type: str) -> bytes:
    """The encoder graph :func:`graph` describes, built from the weights."""
    weights = model_file(folder)
    read = weights.array
    heads = int(read("encoder/num_heads"))
    bands, width = weights.variables["encoder/conv1/weight"].shape[1], weights.variables["encoder/conv1/bias"].shape[0]
    g = _Builder(compute_type)
    x = "mel"
    for conv, stride in (("conv1", 1), ("conv2", 2)):
        weight, bias = g.weights(f"encoder/{conv}", "weight", "bias", source=read)
        x = g.op("Gelu", g.op("Conv", x, weight, bias, kernel_shape=(3,), pads=(1, 1), strides=(stride,)))
    x = g.op("Transpose", x, perm=(0, 2, 1))  # (1, frames, width)
    (positions,) = g.weights("encoder/position_encodings", "encodings", source=read)
    zero = g.constant("zero", np.zeros(1, np.int64))
    x = g.op("Add", x, g.op("Slice", positions, zero, g.op("Shape", x, start=1, end=2), zero))
    split_heads = g.constant("split_heads", np.array([1, -1, heads, width // heads], np.int64))
    join_heads = g.constant("join_heads", np.array([1, -1, width], np.int64))
    scale = g.constant("attention_scale", np.array(1 / np.sqrt(width // heads), np.float32))
    final = g.weights("encoder/layer_norm", "gamma", "beta", source=read)

    def linear(x: str, name: str) -> str:
        return g.linear(x, name, read(name + "/weight"), read(name + "/bias"))

    for layer in range(1, max(layers) + 1):
        at = f"encoder/layer_{layer - 1}"
        h = g.norm(x, *g.weights(f"{at}/self_attention/layer_norm", "gamma", "beta", source=read))
        q, k, v = (
            g.op("Transpose", g.op("Reshape", part, split_heads), perm=(0, 2, 1, 3))  # (1, heads, frames, depth)
            for part in g.op("Split", linear(h, f"{at}/self_attention/linear_0"), axis=-1, num_outputs=3, outputs=3)
        )
        scores = g.op("Mul", g.op("MatMul", q, g.op("Transpose", k, perm=(0, 1, 3, 2))), scale)
        attended = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)
        attended = g.op("Reshape", g.op("Transpose", attended, perm=(0, 2, 1, 3)), join_heads)
        x = g.op("Add", x, linear(attended, f"{at}/self_attention/linear_1"))
        h = g.norm(x, *g.weights(f"{at}/ffn/layer_norm", "gamma", "beta", source=read))
        x = g.op("Add", x, linear(g.op("Gelu", linear(h, f"{at}/ffn/linear_0")), f"{at}/ffn/linear_1"))
        if layer in layers:
            g.norm(x, *final, output=f"layer{layer}")
    return onnx_graph.model(
        f"whisper-encoder-{compute_type}",
        g.nodes,
        g.initializers,
        [onnx_graph.value_info("mel", np.float32, (1, bands, "mel_frames"))],
        [onnx_graph.value_info(f"layer{k}", np.float32, (1, "frames", width)) for k in layers],
        OPSETS,
    )
