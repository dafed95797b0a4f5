"""Where each field of a tower's encoded rows lives, by name.

An EncodedTable holds a tower's fields in three arrays: `cat` (N, F_cat) single-valued tokens,
`seq` one (N, M_f) array per multi-valued field, `num` (N, F_num) numbers. `TowerCodec.encode`
writes them in the order this layout names, and every reader asks the layout (`layout.history`,
`layout.label_stat`) instead of counting columns, so a new field kind changes this file and the
codec, not its readers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

ID = 0  # the entity's own id token: column 0 of `cat`, in every tower


@dataclass(frozen=True)
class TableLayout:
    cat: Mapping[str, int]  # raw column -> its column of `cat` (the id column first, at ID)
    seq: Mapping[str, int]  # raw column (or the history's name) -> its array in `seq`
    num: Mapping[str, int]  # raw numeric column -> its column of `num`
    history: int | None  # the user's recent positive items: an index into `seq`
    label_stat: slice | None  # the ordered target statistic's (rate, log-count) in `num`
    num_dim: int  # width of `num`

    @classmethod
    def of(cls, id_column: str, singles: Sequence[str], multis: Sequence[str],
           numerics: Sequence[str], history: str | None, label_stat: bool) -> TableLayout:
        """The layout `TowerCodec.encode` writes: the id, then single-valued fields; multi-valued
        fields, then the history; numeric columns, then the statistic's two columns."""
        seq = {name: j for j, name in enumerate(multis)}
        if history is not None:
            seq[history] = len(multis)
        stat = slice(len(numerics), len(numerics) + 2) if label_stat else None
        return cls(cat={name: j for j, name in enumerate([id_column, *singles])}, seq=seq,
                   num={name: j for j, name in enumerate(numerics)},
                   history=len(multis) if history is not None else None, label_stat=stat,
                   num_dim=len(numerics) + (2 if label_stat else 0))

    def with_label_stat(self, num: np.ndarray, stat: np.ndarray) -> np.ndarray:
        """A copy of `num` (N, F_num) with the statistic's columns set to `stat` (N, 2)."""
        if self.label_stat is None:
            raise ValueError("this tower has no label statistic")
        num = num.copy()
        num[:, self.label_stat] = stat
        return num
