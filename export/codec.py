"""The value codec of snapshot values: small, versioned, readable from any language.

Every value starts with two bytes: the schema version (1) and the kind. All integers are
little-endian.

kind 1, ranked list (user_recs, similar, fbt, popular):
    u32 n, then n entries of
        u16 item-id length, item id (UTF-8),
        f32 score,
        u16 reason length, reason (UTF-8; "also_bought", "similar_to:<item>", "popular", ...)
kind 2, item metadata (item_meta, meta):
    u32 length, then a UTF-8 JSON object

Decoding never trusts lengths: a short, long or otherwise malformed value raises
CodecError saying what is wrong, never an IndexError or a crash.
"""

from __future__ import annotations

import json
import struct
from typing import NamedTuple

VERSION = 1
KIND_LIST = 1
KIND_META = 2
_HEADER = struct.Struct("<BBI")       # version, kind, count or length
_SCORE = struct.Struct("<f")
_SCORE_LEN = struct.Struct("<fH")     # an entry's score and the length of its reason, read at once
_LEN = struct.Struct("<H")
MAX_TEXT = 0xFFFF


class CodecError(ValueError):
    """A value cannot be encoded or decoded; the message says why."""


class Entry(NamedTuple):
    item_id: str
    score: float
    reason: str


def _text(value: str, what: str) -> bytes:
    raw = str(value).encode("utf-8")
    if len(raw) > MAX_TEXT:
        raise CodecError(f"{what} is {len(raw)} bytes; at most {MAX_TEXT}")
    return _LEN.pack(len(raw)) + raw


def encode_list(entries) -> bytes:
    """Bytes of a ranked list of (item_id, score, reason), best first."""
    entries = list(entries)
    parts = [_HEADER.pack(VERSION, KIND_LIST, len(entries))]
    for item_id, score, reason in entries:
        parts += [_text(item_id, "an item id"), _SCORE.pack(float(score)), _text(reason or "", "a reason")]
    return b"".join(parts)


def encode_meta(fields: dict) -> bytes:
    """Bytes of a JSON object (item metadata, snapshot metadata)."""
    raw = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")
    return _HEADER.pack(VERSION, KIND_META, len(raw)) + raw


def _header(value: bytes, kind: int) -> int:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise CodecError(f"expected bytes, got {type(value).__name__}")
    if len(value) < _HEADER.size:
        raise CodecError(f"value of {len(value)} bytes is shorter than the {_HEADER.size}-byte header")
    version, found, count = _HEADER.unpack_from(value, 0)
    if version != VERSION:
        raise CodecError(f"schema version {version} is not supported (this reader knows {VERSION})")
    if found != kind:
        raise CodecError(f"value kind {found}, expected {kind}")
    return count


def decode_list(value: bytes, limit: int | None = None) -> list[Entry]:
    """The entries of a ranked list value (only the first `limit`, unchecked beyond them, when given)."""
    count = _header(value, KIND_LIST)
    if limit is not None and limit < count:
        count, partial = limit, True
    else:
        partial = False
    value = bytes(value)
    size = len(value)
    at = _HEADER.size
    entries = []
    length, score_and_length, make = _LEN.unpack_from, _SCORE_LEN.unpack_from, tuple.__new__
    try:
        for _ in range(count):
            end = at + 2 + length(value, at)[0]
            score, m = score_and_length(value, end)
            stop = end + 6 + m
            if stop > size:
                raise CodecError(f"entry {len(entries)} runs past the end of the value")
            entries.append(make(Entry, (value[at + 2: end].decode("utf-8"), score,
                                        value[end + 6: stop].decode("utf-8"))))
            at = stop
    except struct.error:
        raise CodecError(f"entry {len(entries)} of {count} is truncated") from None
    except UnicodeDecodeError:
        raise CodecError(f"entry {len(entries)} holds text that is not UTF-8") from None
    if not partial and at != len(value):
        raise CodecError(f"{len(value) - at} unexpected byte(s) after {count} entries")
    return entries


def decode_meta(value: bytes) -> dict:
    """The JSON object of a metadata value."""
    length = _header(value, KIND_META)
    raw = bytes(value[_HEADER.size:])
    if len(raw) != length:
        raise CodecError(f"metadata says {length} bytes, holds {len(raw)}")
    try:
        fields = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CodecError(f"metadata is not UTF-8 JSON: {err}") from None
    if not isinstance(fields, dict):
        raise CodecError(f"metadata must be a JSON object, not {type(fields).__name__}")
    return fields
