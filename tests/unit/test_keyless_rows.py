"""#15 item 10, the writer's side: a row whose entity value is NULL or blank is never stored online
(it would collide as ``None`` or ``""`` with a real entity); it is counted as keyless."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from featurestream.online.columnar import keyless_rows, take
from featurestream.online.keys import is_keyless


@pytest.mark.parametrize("value", [None, "", " ", "   "])
def test_null_empty_and_spaces_have_no_key(value: object) -> None:
    assert is_keyless(value)


@pytest.mark.parametrize("value", ["a", " a ", "None", "null", "\t", 0, 0.0, False, "|"])
def test_every_other_value_is_a_key(value: object) -> None:
    assert not is_keyless(value)


def test_arrow_and_list_columns_agree_with_the_rule() -> None:
    values = ["u1", None, "", "  ", "u|2", "None", "\t"]
    expected = [is_keyless(v) for v in values]
    for col in (values, pa.array(values, pa.string()), pa.array(values, pa.large_string())):
        mask = keyless_rows([col])
        assert mask is not None and mask.tolist() == expected
    ints = pa.array([1, None, 3], pa.int64())
    assert keyless_rows([ints]).tolist() == [False, True, False]  # type: ignore[union-attr]


def test_a_composite_key_is_keyless_when_any_part_is() -> None:
    mask = keyless_rows([pa.array(["a", "b", None]), ["x", " ", "z"]])
    assert mask is not None and mask.tolist() == [False, True, True]


def test_no_keyless_row_means_no_mask_and_no_copy() -> None:
    assert keyless_rows([pa.array(["a", "b"]), [1, 2]]) is None


def test_take_keeps_the_rows_of_the_mask() -> None:
    keep = np.array([True, False, True])
    assert take(["a", "b", "c"], keep) == ["a", "c"]
    assert take(pa.array([1, 2, 3]), keep).to_pylist() == [1, 3]  # type: ignore[union-attr]
