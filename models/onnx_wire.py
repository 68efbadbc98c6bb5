"""What the runtime reads from an ONNX file, read from its protobuf bytes without the onnx package:
the metadata entries, the operators of the graph, and the bytes without one metadata entry.

Why: importing onnx loads ml_dtypes, about a CPU-second and 30 MB, which was half of replay's start-up
to its first verdict (issue 22); onnxruntime parses the graph itself, so the runtime needs only these
reads. The protobuf wire format is fixed (https://protobuf.dev/programming-guides/encoding/): a record
is a varint key (field number << 3 | wire type) and its value. The field numbers are onnx.proto's, which
never change: ModelProto.graph 7, ModelProto.metadata_props 14 (StringStringEntryProto key 1, value 2),
GraphProto.node 1, NodeProto.op_type 4.

A ValueError names the byte offset where the bytes stop being protobuf.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

MODEL_GRAPH, MODEL_METADATA = 7, 14
ENTRY_KEY, ENTRY_VALUE = 1, 2
GRAPH_NODE, NODE_OP_TYPE = 1, 4
VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """(value, offset after it) of the varint at `at`."""
    value = shift = 0
    start = at
    while True:
        if at >= len(data) or shift > 63:
            raise ValueError(f"truncated or overlong varint at byte {start}")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if byte < 0x80:
            return value, at


def records(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int, int, int]]:
    """(field number, record start, value start, value end) of each record in data[start:end], in order;
    a varint or fixed value is data[value start:value end] as stored, a length-delimited one its payload."""
    end = len(data) if end is None else end
    at = start
    while at < end:
        key, value_at = _varint(data, at)
        field, wire = key >> 3, key & 7
        if wire == VARINT:
            value_end = _varint(data, value_at)[1]
        elif wire == FIXED64:
            value_end = value_at + 8
        elif wire == FIXED32:
            value_end = value_at + 4
        elif wire == LENGTH:
            size, value_at = _varint(data, value_at)
            value_end = value_at + size
        else:
            raise ValueError(f"protobuf wire type {wire} (field {field}) at byte {at} is not one ONNX uses")
        if field == 0 or value_end > end:
            raise ValueError(f"record of field {field} at byte {at} runs past the end of its message")
        yield field, at, value_at, value_end
        at = value_end


def _strings(data: bytes, start: int, end: int, fields: tuple[int, ...]) -> list[str]:
    """The last value of each of `fields` in the message data[start:end] ("" when absent)."""
    found = dict.fromkeys(fields, "")
    for field, _, value_at, value_end in records(data, start, end):
        if field in found:
            found[field] = data[value_at:value_end].decode("utf-8")
    return [found[f] for f in fields]


class MetadataEntry(NamedTuple):
    key: str
    value: str
    start: int  # the record's first byte in the file
    end: int  # one past its last


def metadata(data: bytes) -> list[MetadataEntry]:
    """Each ModelProto.metadata_props entry of a model file, in file order."""
    entries = []
    for field, at, value_at, value_end in records(data):
        if field == MODEL_METADATA:
            key, value = _strings(data, value_at, value_end, (ENTRY_KEY, ENTRY_VALUE))
            entries.append(MetadataEntry(key, value, at, value_end))
    return entries


def op_types(data: bytes) -> set[str]:
    """The op_type of every node of the model's main graph (not of subgraphs inside attributes)."""
    found: set[str] = set()
    for field, _, graph_at, graph_end in records(data):
        if field == MODEL_GRAPH:
            for node_field, _, node_at, node_end in records(data, graph_at, graph_end):
                if node_field == GRAPH_NODE:
                    found.update(_strings(data, node_at, node_end, (NODE_OP_TYPE,)))
    return found
