"""ONNX model files written directly in protobuf's wire format: the few messages a graph of plain operators needs.

The ``onnx`` package could write them, but importing it costs about a second (its ``ml_dtypes`` dependency), which
every ``ser predict`` would pay; these are the messages and field numbers of ``onnx/onnx.proto`` (IR version 8) that
:mod:`ser.features.encoder` uses, and ``tests/test_encoder_layers.py`` reads what they write back with ``onnx``
and checks it. Fields are written in field-number order, so the same graph always has the same bytes.
"""

from __future__ import annotations

import struct

import numpy as np

IR_VERSION = 8
TENSOR_TYPES = {np.dtype(np.float32): 1, np.dtype(np.uint8): 2, np.dtype(np.int8): 3, np.dtype(np.int64): 7}
ATTRIBUTE_FLOAT, ATTRIBUTE_INT, ATTRIBUTE_INTS = 1, 2, 7  # AttributeProto.AttributeType


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 values as two's complement, as protobuf writes them
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _integer(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _bytes(number: int, payload: bytes | str) -> bytes:
    payload = payload.encode() if isinstance(payload, str) else payload
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def tensor(name: str, array: np.ndarray) -> bytes:
    """A TensorProto: dims (1), data_type (2), name (8), raw_data (9, little-endian)."""
    array = np.ascontiguousarray(array)
    dims = b"".join(_integer(1, size) for size in array.shape)
    raw = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
    return dims + _integer(2, TENSOR_TYPES[array.dtype]) + _bytes(8, name) + _bytes(9, raw)


def attribute(name: str, value: float | int | tuple[int, ...]) -> bytes:
    """An AttributeProto: name (1), f (2), i (3) or ints (8), type (20)."""
    if isinstance(value, float):
        return _bytes(1, name) + _varint(2 << 3 | 5) + struct.pack("<f", value) + _integer(20, ATTRIBUTE_FLOAT)
    if isinstance(value, int):
        return _bytes(1, name) + _integer(3, value) + _integer(20, ATTRIBUTE_INT)
    return _bytes(1, name) + b"".join(_integer(8, item) for item in value) + _integer(20, ATTRIBUTE_INTS)


def node(op_type: str, inputs: list[str], outputs: list[str], attributes: dict) -> bytes:
    """A NodeProto of ONNX's own operators: input (1), output (2), op_type (4), attribute (5)."""
    fields = [_bytes(1, name) for name in inputs] + [_bytes(2, name) for name in outputs] + [_bytes(4, op_type)]
    fields += [_bytes(5, attribute(key, value)) for key, value in attributes.items()]
    return b"".join(fields)


def value_info(name: str, dtype, dims: tuple[int | str, ...]) -> bytes:
    """A ValueInfoProto of a tensor: name (1), type (2: TypeProto.tensor_type (1): elem_type (1), shape (2)); each
    dimension a number (dim_value, 1) or a name (dim_param, 2)."""
    shape = b"".join(_bytes(1, _integer(1, dim) if isinstance(dim, int) else _bytes(2, dim)) for dim in dims)
    return _bytes(1, name) + _bytes(2, _bytes(1, _integer(1, TENSOR_TYPES[np.dtype(dtype)]) + _bytes(2, shape)))


def model(
    name: str, nodes: list[bytes], initializers: list[bytes], inputs: list[bytes], outputs: list[bytes], opsets: dict
) -> bytes:
    """A ModelProto: ir_version (1), producer_name (2), graph (7: node (1), name (2), initializer (5), input (11),
    output (12)), opset_import (8: domain (1), version (2))."""
    graph = b"".join(
        [
            *(_bytes(1, item) for item in nodes),
            _bytes(2, name),
            *(_bytes(5, item) for item in initializers),
            *(_bytes(11, item) for item in inputs),
            *(_bytes(12, item) for item in outputs),
        ]
    )
    imports = b"".join(_bytes(8, _bytes(1, domain) + _integer(2, version)) for domain, version in opsets.items())
    return _integer(1, IR_VERSION) + _bytes(2, "ser") + _bytes(7, graph) + imports
