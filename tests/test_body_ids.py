"""Ids kept in a request body: they read, slice, reorder and write as the strings they stand for."""

from __future__ import annotations

import numpy as np
import orjson

from service.body_ids import BodyIds, body_ids


def test_the_json_of_body_ids_is_that_of_their_strings() -> None:
    ids = body_ids(b'[14, "i7", -3, "a b",\n 9223372036854775808]')
    assert isinstance(ids, BodyIds)
    strings = ["14", "i7", "-3", "a b", "9223372036854775808"]
    assert list(ids) == strings and ids[1] == "i7" and len(ids) == 5
    assert orjson.loads(orjson.dumps({"a": ids.json()})) == {"a": strings}
    assert orjson.loads(orjson.dumps({"a": ids[:0].json()})) == {"a": []}


def test_an_untouched_array_of_strings_is_written_as_sent_and_any_other_spelled() -> None:
    sent = b'[ "i7",\n"a b" ]'
    ids = body_ids(sent)
    assert ids is not None and ids.verbatim and orjson.dumps(ids.json()) == sent
    for changed in (ids[1:], ids.take(np.array([1, 0])), body_ids(b'["i7", 7]')):
        assert changed is not None and not changed.verbatim
        assert orjson.loads(orjson.dumps(changed.json())) == list(changed)


def test_slices_and_reorderings_keep_ids_in_the_body() -> None:
    ids = body_ids(b'["5", 6, "7"]')
    assert ids is not None
    assert list(ids[1:]) == ["6", "7"] and isinstance(ids[1:], BodyIds)
    assert list(ids.take(np.array([2, 0, 0]))) == ["7", "5", "5"]


def test_ids_that_need_an_escape_or_are_not_ascii_are_not_kept() -> None:
    for array in (b'["a\\"b"]', '["é"]'.encode(), b"[1.5]", b"[-0]", b"[]", b"[null]"):
        assert body_ids(array) is None, array
