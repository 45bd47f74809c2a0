"""The iterate as a Flower ArrayRecord, and what a message costs on the wire.

The numpy backend sends ArrayRecord{"x": x_t (d,) float64} and gets ArrayRecord{"x": y_i} back (the
record keys are in ``protocol``). With backend "rlhf" the ArrayRecord holds the LoRA adapter instead, one Array per tensor (PEFT
names, sorted, the adapter's dtype); :class:`TensorSpec` describes either layout, and its flat
float64 vector (names in order) is what the server aggregates.

Sizes are measured on the serialized objects Flower actually transfers: a Message is pushed as the
deflated bytes of every object in its tree (message, RecordDict, records, Arrays, ArrayChunks), so
``wire_bytes = sum_o len(o.deflate())`` over the unique objects of the tree. The payload is the
numbers themselves: ``payload_floats = sum prod(shape)`` and ``payload_bytes = sum prod(shape) *
itemsize`` over the Arrays, read from the serialized Array headers (npy header bytes and record
metadata are the overhead ``wire_bytes - payload_bytes``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from flwr.app import Array, ArrayRecord, Message
from flwr.supercore.inflatable.inflatable_object import InflatableObject, get_all_nested_objects

from .protocol import ITERATE_KEY

#: dtype of the iterate on the wire.
WIRE_DTYPE = np.dtype(np.float64)


def iterate_to_record(x: np.ndarray) -> ArrayRecord:
    """ArrayRecord{"x": x} holding a float64 copy of the 1-D iterate ``x``."""
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"iterate_to_record: `x` must be 1-D, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"iterate_to_record: `x` must be a float array, got dtype {arr.dtype}")
    return ArrayRecord({ITERATE_KEY: Array(np.array(arr, dtype=WIRE_DTYPE, copy=True))})


def record_to_iterate(record: ArrayRecord) -> np.ndarray:
    """The iterate stored under "x" in ``record``, as a fresh float64 array (the record is untouched)."""
    if not isinstance(record, ArrayRecord):
        raise TypeError(f"record_to_iterate: `record` must be an ArrayRecord, got {type(record).__name__}")
    if list(record.keys()) != [ITERATE_KEY]:
        raise ValueError(f"record_to_iterate: `record` must hold exactly the key {ITERATE_KEY!r}, got {list(record)}")
    return np.array(record[ITERATE_KEY].numpy(), dtype=WIRE_DTYPE, copy=True)


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape and dtype of one Array of a train exchange (the numpy backend has one, "x" (d,)
    float64; the LoRA backend one per adapter tensor)."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(int(n) for n in self.shape))
        object.__setattr__(self, "dtype", np.dtype(self.dtype))

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


def iterate_specs(dim: int) -> tuple[TensorSpec, ...]:
    """The layout of the numpy backend: one Array "x" of shape (d,), float64."""
    return (TensorSpec(ITERATE_KEY, (int(dim),), WIRE_DTYPE),)


def specs_of(tensors: Mapping[str, np.ndarray]) -> tuple[TensorSpec, ...]:
    """The layout of named arrays, sorted by name (the order their flattened vector uses)."""
    return tuple(TensorSpec(name, np.shape(tensors[name]), np.asarray(tensors[name]).dtype) for name in sorted(tensors))


def tensors_to_record(tensors: Mapping[str, np.ndarray]) -> ArrayRecord:
    """ArrayRecord of copies of the named arrays ``tensors``, keys sorted, dtypes kept."""
    return ArrayRecord({name: Array(np.array(tensors[name], copy=True)) for name in sorted(tensors)})


def vector_to_record(x: np.ndarray, specs: tuple[TensorSpec, ...]) -> ArrayRecord:
    """Split the flat vector ``x`` into the arrays of ``specs`` (in their order), each reshaped and
    cast to its dtype: the inverse of ``validation.arrays_to_vector``."""
    vec = np.asarray(x)
    total = sum(s.size for s in specs)
    if vec.ndim != 1 or vec.shape[0] != total:
        raise ValueError(f"vector_to_record: `x` must have shape ({total},) for {len(specs)} arrays, got {vec.shape}")
    if not np.issubdtype(vec.dtype, np.floating):
        raise TypeError(f"vector_to_record: `x` must be a float array, got dtype {vec.dtype}")
    out, start = {}, 0
    for s in specs:
        out[s.name] = Array(np.array(vec[start : start + s.size].reshape(s.shape), dtype=s.dtype, copy=True))
        start += s.size
    return ArrayRecord(out)


@dataclass(frozen=True)
class Traffic:
    """Size of one message: numbers carried (payload) and bytes of its serialized object tree."""

    payload_floats: int
    payload_bytes: int
    wire_bytes: int

    def __add__(self, other: Traffic) -> Traffic:
        return Traffic(
            self.payload_floats + other.payload_floats,
            self.payload_bytes + other.payload_bytes,
            self.wire_bytes + other.wire_bytes,
        )


ZERO_TRAFFIC = Traffic(0, 0, 0)


def wire_bytes(obj: InflatableObject) -> int:
    """Bytes Flower pushes for ``obj``: sum of len(deflate()) over the unique objects of its tree."""
    return int(sum(len(o.deflate()) for o in get_all_nested_objects(obj).values()))


def array_payload(record: ArrayRecord) -> tuple[int, int]:
    """(floats, bytes) of the numbers in ``record``: sum prod(shape), sum prod(shape) * itemsize."""
    floats = 0
    nbytes = 0
    for arr in record.values():
        count = int(np.prod(arr.shape, dtype=np.int64))
        floats += count
        nbytes += count * np.dtype(arr.dtype).itemsize
    return floats, nbytes


def message_traffic(message: Message) -> Traffic:
    """Traffic of one message: payload of all its ArrayRecords and the serialized size of the whole tree."""
    if not message.has_content():
        return Traffic(0, 0, wire_bytes(message))
    floats = 0
    nbytes = 0
    for record in message.content.array_records.values():
        f, b = array_payload(record)
        floats += f
        nbytes += b
    return Traffic(floats, nbytes, wire_bytes(message))
