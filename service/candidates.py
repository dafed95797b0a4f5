"""A bundle's item ids as a request names them: raw ids -> catalogue rows, the known/unknown
split in request order, the candidate limit and the strict policy, and the item tower's id
tokens that a fresh history needs (service.user_features).

The rows come from one compiled lookup of the whole request (model.kernels.id_index). A request
whose ids are BodyIds (the common bodies, service.fast_body) is looked up in its body's bytes and
keeps its known ids there, spelled only when the response is written (service.body_ids).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model.features import OOV, EncodedTable
from model.kernels.id_index import item_id_index
from model.layout import ID
from service.body_ids import BodyIds
from service.errors import TooManyCandidates, UnknownCandidates

ItemIds = Sequence[str]  # a list of strings, or BodyIds
_UNKNOWN_NAMED = 10  # unknown ids a strict refusal names; the rest it counts


class Candidates:
    """The item ids of one bundle (`items`, version `version`); requests of at most
    `max_candidates` ids."""

    def __init__(self, items: EncodedTable, version: str, max_candidates: int) -> None:
        self._index = item_id_index(items.ids)  # raw item ids -> catalogue rows
        self._id_tokens = items.cat[:, ID]  # (N_items,) int64: each row's item-tower id token
        self._version = version
        self.max_candidates = max_candidates

    def rows(self, ids: ItemIds) -> np.ndarray:
        """Catalogue rows (N,) int64 of `ids`, -1 for an id the bundle lacks."""
        if isinstance(ids, BodyIds):
            return self._index.rows_in(ids.text, ids.starts, ids.ends)
        return self._index.rows(ids)

    def split(self, ids: ItemIds, strict: bool = False
              ) -> tuple[np.ndarray, Sequence[str], list[str]]:
        """Bundle rows (N,) int64 of the known ids and those ids, in request order; then the
        unknown ids, as strings. TooManyCandidates past the limit; with `strict`,
        UnknownCandidates instead of a list of unknown ids."""
        if len(ids) > self.max_candidates:
            raise TooManyCandidates(f"{len(ids)} candidates, the limit is "
                                    f"{self.max_candidates} per request", "candidate_ids")
        rows = self.rows(ids)
        known = rows >= 0
        if np.count_nonzero(known) == len(rows):  # a C call: .all() goes through Python
            return rows, ids, []
        if isinstance(ids, BodyIds):  # spelled when the response is written
            kept: Sequence[str] = ids.take(np.flatnonzero(known))
            unknown = list(ids.take(np.flatnonzero(~known)))
        else:
            unknown = [i for i, ok in zip(ids, known.tolist(), strict=True) if not ok]
            kept = [i for i, ok in zip(ids, known.tolist(), strict=True) if ok]
        if unknown and strict:
            more = (f" and {len(unknown) - _UNKNOWN_NAMED} more"
                    if len(unknown) > _UNKNOWN_NAMED else "")
            raise UnknownCandidates(f"not in model {self._version}: "
                                    f"{unknown[:_UNKNOWN_NAMED]}{more}", "candidate_ids")
        return rows[known], kept, unknown

    def tokens(self, ids: Sequence[str]) -> np.ndarray:
        """Raw item ids -> the item tower's id tokens (N,) int64; OOV for ids not in the bundle."""
        rows = self.rows(ids)
        return np.where(rows >= 0, self._id_tokens[rows], OOV)
