"""Request ids -> catalogue rows: exactly what a dict says, for known, unknown and odd ids."""

from __future__ import annotations

import numpy as np

from service import id_index
from service.id_index import IdIndex


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
        return int(id_index._hash(np.frombuffer(name, np.uint8), 0, len(name), index._seed)) & mask

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
