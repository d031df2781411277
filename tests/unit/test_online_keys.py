"""Key and value encoding, and the shared status/default semantics (no services)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from featurestream.online.keys import (
    ROW_HEAD,
    decode_entity,
    decode_row,
    decode_value,
    encode_entity,
    encode_row,
    encode_value,
    entity_key,
    entity_keys,
    entity_part,
    key_parts,
    key_pattern,
    row_text,
    row_times,
)
from featurestream.semantics import Status, classify, default_for, is_live, sla_breached, to_epoch_ms
from tests.support.registry import demo_views


def test_key_layout() -> None:
    assert entity_key("default", "card_spend_1h", 1, encode_entity(["c1"])) == "{default:c1}:card_spend_1h:1"
    assert encode_entity([42]) == "42"
    assert encode_entity(["a|b", "c"]) == "a\\|b|c"
    assert encode_entity(["a", "b|c"]) == "a|b\\|c"
    assert encode_entity(["a\\", "b"]) == "a\\\\|b"


def test_key_pattern_and_entity_decoding_follow_the_key_encoding() -> None:
    for ent in [("u|1", "x\\y"), ("plain", ""), ("a", "b|c")]:
        key = entity_key("ns", "pairs", 1, encode_entity(ent))
        assert decode_entity(entity_part("ns", "pairs", 1, key)) == ent
        assert decode_entity(entity_part("ns", "pairs", 1, key.encode())) == ent
    assert key_pattern("ns", "pairs", 1) == "{ns:*}:pairs:1"
    assert key_pattern("ns", "*", "*") == "{ns:*}:*:*"
    with pytest.raises(ValueError, match="expected a key"):
        entity_part("ns", "pairs", 2, entity_key("ns", "pairs", 1, "u"))


def test_key_parts_build_the_same_keys_as_entity_key() -> None:
    prefix, suffix = key_parts("ns", "card_spend_1h", 3)
    assert (prefix, suffix) == ("{ns:", "}:card_spend_1h:3")
    single = ["c1", "a|b", "back\\slash", 42]
    assert entity_keys(prefix, suffix, [single]) == [
        entity_key("ns", "card_spend_1h", 3, encode_entity([v])) for v in single
    ]
    pairs = [["a|b", "a", 7], ["c", "b|c", 8]]
    assert entity_keys(prefix, suffix, pairs) == [
        entity_key("ns", "card_spend_1h", 3, encode_entity(vals)) for vals in zip(*pairs, strict=True)
    ]


@given(st.lists(st.text(), min_size=2, max_size=3), st.lists(st.text(), min_size=2, max_size=3))
def test_composite_encoding_is_injective(a: list[str], b: list[str]) -> None:
    if len(a) == len(b) and a != b:
        assert encode_entity(a) != encode_entity(b)


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**53), 2**53)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda c: st.lists(c, max_size=4),
        max_leaves=8,
    )
)
def test_values_round_trip(value: object) -> None:
    assert decode_value(encode_value(value)) == value
    assert b"\0" not in encode_value(value)  # the writer's row blobs rely on this


def test_status_boundaries_match_offline_rule() -> None:
    ttl = 1000
    assert classify(None, 5000, ttl) is Status.NOT_FOUND
    assert classify(4001, 5000, ttl) is Status.PRESENT
    assert classify(4000, 5000, ttl) is Status.OUTSIDE_MAX_AGE  # exactly ttl old: expired (exclusive bound)
    assert classify(9000, 5000, ttl) is Status.PRESENT  # ahead of the clock
    assert is_live(4001, 5000, ttl) and not is_live(4000, 5000, ttl)
    assert sla_breached(None, 1, 10) and sla_breached(0, 11, 10) and not sla_breached(1, 11, 10)


def test_defaults_and_epoch_ms() -> None:
    view = next(v for v in demo_views() if v.ref == "card_spend_1h@1")
    assert default_for(view, "txn_count_1h") == 0 and default_for(view, "spend_1h") == 0.0
    assert default_for(view, "nope") is None
    assert to_epoch_ms(datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)) == 1000
    assert to_epoch_ms(datetime(1970, 1, 1, 1, 0, 1, tzinfo=timezone(timedelta(hours=1)))) == 1000
    with pytest.raises(ValueError, match="naive"):
        to_epoch_ms(datetime(2024, 1, 1))


def test_the_compact_row_and_the_per_feature_layout_read_alike() -> None:
    """A compact row and a hash in the per-feature layout of the same row decode to the same list and
    times, whichever shape the reply has (the row bytes, the read script's flat HGETALL, redis-py's
    mapping); no row is ``None``."""
    names = [b"a", b"b", b"c"]
    values = [1.5, "x|y", [1, None]]
    compact = encode_row(1000, 999, values)
    assert compact == b'[1000,999,1.5,"x|y",[1,null]]' and decode_row(compact, names) == [1000, 999, *values]
    per_feature = {b"_ft": b"1000", b"_ct": b"999", **{n: encode_value(v) for n, v in zip(names, values, strict=True)}}
    flat = [x for kv in per_feature.items() for x in kv]
    for reply in (per_feature, flat):
        assert row_text(reply, names) == compact, reply
        assert row_times(reply) == (1000, 999)
    assert row_times(compact) == (1000, 999) and row_times(encode_row(5, 6, ["a,b"])) == (5, 6)
    partial = {b"_ft": b"1000", b"b": b'"x|y"'}  # no created_at, a feature never written
    assert decode_row(partial, names) == [1000, None, None, "x|y", None] and row_times(partial) == (1000, None)
    assert decode_row(None, names) is None and decode_row({}, names) is None and decode_row([], names) is None
    assert row_times(None) is None and row_times({}) is None
    assert ROW_HEAD == 2
