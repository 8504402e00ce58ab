"""The value codec: round trips, and clear errors (never a crash) on random or damaged bytes."""

from __future__ import annotations

import random
import struct

import pytest

from export import codec


def test_list_round_trip_keeps_order_scores_and_reasons():
    entries = [("85123A", 0.9, "also_bought"), ("ÉTÉ-☃", -1.5, "similar_to:85123A"), ("x", 0.0, "")]
    got = codec.decode_list(codec.encode_list(entries))
    assert [(e.item_id, e.reason) for e in got] == [(i, r) for i, _, r in entries]
    assert [e.score for e in got] == pytest.approx([0.9, -1.5, 0.0])      # float32
    assert codec.decode_list(codec.encode_list([])) == []


def test_layout_is_the_documented_one():
    value = codec.encode_list([("ab", 1.0, "p")])
    assert value == struct.pack("<BBI", 1, 1, 1) + struct.pack("<H", 2) + b"ab" + struct.pack("<f", 1.0) \
        + struct.pack("<H", 1) + b"p"


def test_meta_round_trip_and_kind_check():
    fields = {"title": "Mug", "price": 4.5, "in_stock": True, "category": None}
    assert codec.decode_meta(codec.encode_meta(fields)) == fields
    with pytest.raises(codec.CodecError, match="kind"):
        codec.decode_list(codec.encode_meta(fields))
    with pytest.raises(codec.CodecError, match="kind"):
        codec.decode_meta(codec.encode_list([("a", 1, "")]))


def test_every_truncation_and_extension_of_a_value_is_a_clear_error():
    value = codec.encode_list([("item-1", 0.5, "popular"), ("item-2", 0.25, "popular")])
    for cut in range(len(value)):
        with pytest.raises(codec.CodecError):
            codec.decode_list(value[:cut])
    with pytest.raises(codec.CodecError, match="unexpected byte"):
        codec.decode_list(value + b"\0")


def test_unknown_version_and_bad_text_say_so():
    value = bytearray(codec.encode_list([("a", 1.0, "r")]))
    value[0] = 9
    with pytest.raises(codec.CodecError, match="schema version 9"):
        codec.decode_list(bytes(value))
    bad = struct.pack("<BBI", 1, 1, 1) + struct.pack("<H", 1) + b"\xff" + struct.pack("<f", 1.0) + b"\0\0"
    with pytest.raises(codec.CodecError, match="UTF-8"):
        codec.decode_list(bad)
    with pytest.raises(codec.CodecError, match="at most"):
        codec.encode_list([("x" * 70000, 1.0, "")])
    with pytest.raises(codec.CodecError, match="expected bytes"):
        codec.decode_list("text")


def test_fuzz_random_and_mutated_bytes_never_crash():
    rng = random.Random(1)
    valid = codec.encode_list([(f"i{n}", n / 10, "r" * n) for n in range(5)])
    meta = codec.encode_meta({"a": 1})
    for trial in range(5000):
        if trial % 2:
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
            if rng.random() < 0.5:
                data = bytes([1, rng.choice([1, 2])]) + data
        else:
            data = bytearray(valid if trial % 4 else meta)
            for _ in range(rng.randrange(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            data = bytes(data)
        for decode in (codec.decode_list, codec.decode_meta):
            try:
                decode(data)
            except codec.CodecError:
                pass


def test_a_limit_decodes_only_the_first_entries():
    value = codec.encode_list([(f"i{n}", 1.0 / (n + 1), "r") for n in range(10)])
    assert [e.item_id for e in codec.decode_list(value, limit=3)] == ["i0", "i1", "i2"]
    assert len(codec.decode_list(value, limit=50)) == 10
