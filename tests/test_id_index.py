"""Request ids -> catalogue rows: exactly what a dict says, for known, unknown and odd ids, given
as strings or found in a request body's JSON (strings and integers), whichever index the catalogue
gets."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from model.kernels import string_id_index
from model.kernels.id_index import item_id_index
from model.kernels.integer_id_index import IntegerIdIndex
from model.kernels.json_ids import id_bounds
from model.kernels.string_id_index import IdIndex


def _in_body(index: IdIndex | IntegerIdIndex, body: bytes) -> list[int]:
    """rows_in of the ids in the JSON array `body`, as a request body holds them."""
    text = np.frombuffer(body, np.uint8)
    found = id_bounds(text)
    assert found is not None
    return index.rows_in(text, found[0], found[1]).tolist()


def _dict_rows(catalogue: list[str], ids: list[str]) -> list[int]:
    row = {item: i for i, item in enumerate(catalogue)}
    return [row.get(i, -1) for i in ids]


def test_rows_match_a_dict_for_known_unknown_longer_shorter_and_unicode_ids() -> None:
    catalogue = [f"i{n}" for n in range(5_000)] + ["42", "ünï", "a b", "", "x" * 40]
    rng = np.random.default_rng(0)
    ids = [catalogue[j] for j in rng.integers(0, len(catalogue), 300)]
    ids += ["i5000", "i1 ", "i12345678", "x" * 41, "x" * 39, "ün", "4", "42", "", "I1", "i01"]
    index = IdIndex(catalogue)
    assert index.rows(ids).tolist() == _dict_rows(catalogue, ids)
    # Ids holding the byte that joins a request's ids take the id-by-id path, just as exactly.
    odd = [*ids[:5], "i1\x00", "\x00", "i2"]
    assert index.rows(odd).tolist() == _dict_rows(catalogue, odd)


def test_a_slot_on_the_probe_path_holding_another_id_is_passed_over() -> None:
    index = IdIndex(["apple", "peach"])  # equal lengths: only their bytes tell them apart
    table, mask = index._table, len(index._table) - 1
    apple, peach = (table[table[:, 0] >> 32 == row][0].copy() for row in (0, 1))

    def home(name: bytes) -> int:
        data = np.frombuffer(name, np.uint8)
        bounds = np.array([0]), np.array([len(name)])
        return int(string_id_index._hashes_and_keys(data, *bounds, index._seed, mask)[0][0])

    table[:] = -1
    # A copy of peach sits in apple's home slot, so apple is found one slot on; peach by its probe.
    placed = ((home(b"apple"), peach), (home(b"apple"), apple), (home(b"peach"), peach))
    for start, content in placed:
        slot = start
        while table[slot, 0] != -1:
            slot = (slot + 1) & mask
        table[slot] = content
    assert index.rows(["apple", "peach", "melon"]).tolist() == [0, 1, -1]


def test_ids_longer_than_a_slot_holds_are_compared_with_the_catalogue_copy() -> None:
    # 2,000 long ids of one length half fill the table: an unknown id's probe passes over several.
    catalogue = [f"a-long-item-identifier-{n:05d}" for n in range(2_000)]
    catalogue += ["x" * 24, "x" * 25, "é" * 13]  # 24 bytes fit in a slot; é is two bytes
    asked = [*catalogue, *(f"a-long-item-identifier-{n:05d}" for n in range(2_000, 2_300)),
             "x" * 26, "x" * 23, "x" * 23 + "\x01", "é" * 12 + "e"]
    assert IdIndex(catalogue).rows(asked).tolist() == _dict_rows(catalogue, asked)


def test_an_empty_catalogue_request_or_id_is_fine() -> None:
    assert IdIndex([]).rows(["a"]).tolist() == [-1]
    assert IdIndex(["a"]).rows([]).tolist() == []
    assert IdIndex(["a", ""]).rows([""]).tolist() == [1]


def _integer_rows(catalogue: list[str], ids: list[int]) -> list[int]:
    return _dict_rows(catalogue, [str(i) for i in ids])


def test_integer_catalogue_rows_match_a_dict_for_digit_strings_and_json_integers() -> None:
    rng = np.random.default_rng(1)
    values = rng.choice(1_000_000, 5_000, replace=False)
    catalogue = [str(v) for v in values] + ["0"]
    asked = [*rng.choice(values, 300).tolist(), *rng.integers(0, 1_100_000, 300).tolist(), 0]
    index = item_id_index(np.array(catalogue, object))  # as a bundle holds them
    assert isinstance(index, IntegerIdIndex)
    assert index.rows([str(i) for i in asked]).tolist() == _integer_rows(catalogue, asked)
    assert _in_body(index, orjson.dumps(asked)) == _integer_rows(catalogue, asked)


def test_only_the_canonical_spelling_of_an_integer_finds_it() -> None:
    catalogue = ["0", "7", "70", str(2**63 - 1)]
    index = item_id_index(catalogue)
    odd = ["007", "00", "+7", "-7", " 7", "7 ", "", "1e3", "7.0", "٧", "７", "7" * 20,
           str(2**63), str(2**64), "9" * 19, "0" * 19 + "7", "70", "0", str(2**63 - 1), "7"]
    assert index.rows(odd).tolist() == _dict_rows(catalogue, odd)
    # Ids holding the byte that joins a request's ids are unknown, and do not shift the others.
    joined = ["7\x00", "\x007", "7", "\x00", "70\x000", "0"]
    assert index.rows(joined).tolist() == [-1, -1, 1, -1, -1, 0]


def test_negative_and_absent_integers_are_unknown() -> None:
    index = item_id_index(["0", "7"])
    asked = b"[-7, -1, 0, 7, 8, 9223372036854775807, -9223372036854775808, 9223372036854775808]"
    assert _in_body(index, asked) == [-1, -1, 0, 1, -1, -1, -1, -1]
    largest = item_id_index(["1", str(2**63 - 1)])  # sparse: the hash table
    assert _in_body(largest, b"[9223372036854775807, -1, 1]") == [1, -1, 0]
    assert largest.rows([str(2**63 - 1), str(2**63)]).tolist() == [1, -1]


def test_a_sparse_integer_catalogue_takes_the_hash_table_and_matches_a_dict() -> None:
    rng = np.random.default_rng(2)
    values = rng.choice(10**15, 5_000, replace=False)  # half fill 16,384 slots: probes pass over
    catalogue = [str(v) for v in values]
    index = item_id_index(catalogue)
    assert isinstance(index, IntegerIdIndex) and len(index._table) == 16_384
    asked = [*rng.choice(values, 500).tolist(), *(values[:500] + 1).tolist(),
             *rng.integers(0, 10**15, 500).tolist()]
    assert index.rows([str(i) for i in asked]).tolist() == _integer_rows(catalogue, asked)
    assert _in_body(index, orjson.dumps(asked)) == _integer_rows(catalogue, asked)


def test_a_dense_integer_catalogue_takes_the_array_rows() -> None:
    dense = item_id_index([str(v) for v in range(3, 200_000, 5)])  # largest id < 2**20
    assert isinstance(dense, IntegerIdIndex) and len(dense._table) == 0
    assert _in_body(dense, b"[3, 8, 4, 199998, 1000000]") == [0, 1, -1, 39_999, -1]


def test_an_integer_index_refuses_negative_catalogue_ids() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        IntegerIdIndex(np.array([3, -1]))


def test_a_repeated_integer_id_answers_its_first_row_like_the_string_index() -> None:
    for catalogue in (["5", "6", "5"], ["5", str(10**15), "5"]):  # dense, then hashed
        assert item_id_index(catalogue).rows(["5"]).tolist() == IdIndex(catalogue).rows(
            ["5"]).tolist() == [0]


@pytest.mark.parametrize("catalogue", [
    ["1", "2", "x"], ["1", "01"], ["1", "-1"], ["1", "+1"], ["1", ""], ["1", "1\x00"],
    ["1", "٣"], ["1", str(2**63)],
])
def test_a_catalogue_with_any_id_that_is_not_a_canonical_integer_takes_the_string_index(
        catalogue: list[str]) -> None:
    assert isinstance(item_id_index(catalogue), IdIndex)


def test_the_string_index_answers_json_integers_and_strings_by_their_text() -> None:
    catalogue = ["1", "2", "x", "-7", "007", str(2**63 - 1), "a b", "x" * 40]
    index = item_id_index(catalogue)
    assert isinstance(index, IdIndex)
    asked = b'[2, 1, 3, -7, 7, 9223372036854775807, "x", "007", "a b", "%s", "%s"]' % (
        b"x" * 40, b"x" * 41)
    assert _in_body(index, asked) == [1, 0, -1, 3, -1, 5, 2, 4, 6, 7, -1]


def test_an_empty_integer_catalogue_or_request_is_fine() -> None:
    assert item_id_index([]).rows(["1"]).tolist() == [-1]
    assert _in_body(item_id_index([]), b"[0]") == [-1]
    assert item_id_index(["1"]).rows([]).tolist() == []
    empty = np.zeros(0, np.int64)
    assert item_id_index(["1"]).rows_in(np.zeros(0, np.uint8), empty, empty).tolist() == []
    assert item_id_index(["1"]).rows([""]).tolist() == [-1]
