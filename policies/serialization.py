"""Byte format of policy snapshots: one msgpack map with raw little-endian float64 arrays.

Layout (msgpack map)::

    format          "offerloop-policy-snapshot"
    format_version  1
    header          map of plain values (policy config as JSON-compatible data, version, ...)
    arrays          map name -> {"dtype": "<f8", "shape": [...], "data": raw bytes}

Nothing is pickled, so loading bytes from a store cannot run code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgpack
import numpy as np

from engine.errors import InvalidInputError

__all__ = ["SNAPSHOT_FORMAT", "SNAPSHOT_FORMAT_VERSION", "encode_snapshot", "decode_snapshot"]

SNAPSHOT_FORMAT = "offerloop-policy-snapshot"
SNAPSHOT_FORMAT_VERSION = 1
_ARRAY_DTYPE = np.dtype("<f8")


def encode_snapshot(header: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> bytes:
    """Serialise a snapshot header (msgpack-compatible values) and its float arrays."""
    encoded_arrays = {
        name: {
            "dtype": _ARRAY_DTYPE.str,
            "shape": list(array.shape),
            "data": np.ascontiguousarray(array, dtype=_ARRAY_DTYPE).tobytes(),
        }
        for name, array in arrays.items()
    }
    payload = {
        "format": SNAPSHOT_FORMAT,
        "format_version": SNAPSHOT_FORMAT_VERSION,
        "header": dict(header),
        "arrays": encoded_arrays,
    }
    return msgpack.packb(payload, use_bin_type=True)


def decode_snapshot(data: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Return ``(header, arrays)`` from bytes written by :func:`encode_snapshot`.

    The arrays are read-only views on ``data``.

    Raises:
        InvalidInputError: the bytes are not msgpack, not this format, a newer format
            version, or an array's byte length does not match its shape.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidInputError(f"snapshot data must be bytes; got {type(data).__name__}")
    try:
        payload = msgpack.unpackb(data, raw=False)
    except (msgpack.exceptions.UnpackException, ValueError, TypeError) as err:
        raise InvalidInputError(
            f"snapshot data is not valid msgpack ({err}), so it is corrupt or not a policy snapshot"
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != SNAPSHOT_FORMAT:
        raise InvalidInputError(
            f"snapshot data must be a {SNAPSHOT_FORMAT!r} map; got a {type(payload).__name__} "
            f"with format {payload.get('format') if isinstance(payload, dict) else None!r}"
        )
    version = payload.get("format_version")
    if version != SNAPSHOT_FORMAT_VERSION:
        raise InvalidInputError(
            f"snapshot format_version must be {SNAPSHOT_FORMAT_VERSION}; got {version!r}. "
            "Load it with the offerloop version that wrote it."
        )
    header = payload.get("header")
    encoded_arrays = payload.get("arrays")
    if not isinstance(header, dict) or not isinstance(encoded_arrays, dict):
        raise InvalidInputError("snapshot data must contain the maps 'header' and 'arrays'; one is missing")
    arrays = {name: _decode_array(name, entry) for name, entry in encoded_arrays.items()}
    return header, arrays


def _decode_array(name: str, entry: Any) -> np.ndarray:
    if not isinstance(entry, dict) or entry.get("dtype") != _ARRAY_DTYPE.str:
        got = entry.get("dtype") if isinstance(entry, dict) else type(entry).__name__
        raise InvalidInputError(f"snapshot array {name!r} must have dtype {_ARRAY_DTYPE.str!r}; got {got!r}")
    shape = entry.get("shape")
    raw = entry.get("data")
    if not isinstance(shape, list) or not all(isinstance(size, int) and size >= 0 for size in shape):
        raise InvalidInputError(
            f"snapshot array {name!r} must have a list of non-negative sizes as shape; got {shape!r}"
        )
    if not isinstance(raw, bytes) or len(raw) != _ARRAY_DTYPE.itemsize * int(np.prod(shape, dtype=np.int64)):
        size = len(raw) if isinstance(raw, bytes) else None
        raise InvalidInputError(
            f"snapshot array {name!r} of shape {tuple(shape)} needs "
            f"{_ARRAY_DTYPE.itemsize * int(np.prod(shape, dtype=np.int64))} bytes; got {size}"
        )
    return np.frombuffer(raw, dtype=_ARRAY_DTYPE).reshape(shape)
