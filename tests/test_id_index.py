"""Request ids -> catalogue rows: exactly what a dict says, for known, unknown and odd ids."""

from __future__ import annotations

import numpy as np

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


def test_an_equal_hash_is_not_taken_for_an_equal_id() -> None:
    index = IdIndex(["apple", "pear"])
    table, mask = index._table, len(index._table) - 1
    apple, pear = (table[table[:, 1] == row][0] for row in (0, 1))  # [hash, row, start, end]
    table[:] = -1
    # A fake collision: pear under apple's hash, in apple's home slot; apple one slot on.
    for slot_content in ((apple[0], *pear[1:]), apple, pear):
        slot = slot_content[0] & mask
        while table[slot, 1] != -1:
            slot = (slot + 1) & mask
        table[slot] = slot_content
    assert index.rows(["apple", "pear", "plum"]).tolist() == [0, 1, -1]


def test_an_empty_catalogue_request_or_id_is_fine() -> None:
    assert IdIndex([]).rows(["a"]).tolist() == [-1]
    assert IdIndex(["a"]).rows([]).tolist() == []
    assert IdIndex(["a", ""]).rows([""]).tolist() == [1]
