"""Known ids of a JSON-integer request are written as the strings the catalogue spells them."""

from __future__ import annotations

import numpy as np
import orjson

from service.integer_ids import IntegerIds
from service.routes import json_response


def test_the_json_of_integer_ids_is_that_of_their_decimal_strings() -> None:
    values = np.array([14, 7, 0, 7, 2**63 - 1, 10**15], np.int64)
    ids = IntegerIds(values)
    expected = [str(v) for v in values.tolist()]
    assert list(ids) == expected and len(ids) == 6 and ids[4] == str(2**63 - 1)
    assert orjson.loads(json_response({"item_ids": ids}).body) == {"item_ids": expected}
    assert orjson.loads(orjson.dumps({"a": IntegerIds(values[:0]).json()})) == {"a": []}


def test_slices_and_reorderings_keep_ids_as_numbers() -> None:
    ids = IntegerIds(np.array([5, 6, 7]))
    assert list(ids[1:]) == ["6", "7"] and isinstance(ids[1:], IntegerIds)
    assert list(ids.take(np.array([2, 0]))) == ["7", "5"]
