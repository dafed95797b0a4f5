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
from typing import Literal

import numpy as np

ID = 0  # the entity's own id token: column 0 of `cat`, in every tower


@dataclass(frozen=True)
class TableLayout:
    cat: Mapping[str, int]  # raw column -> its column of `cat` (the id column first, at ID)
    seq: Mapping[str, int]  # raw column (or the history's name) -> its array in `seq`
    num: Mapping[str, int]  # raw numeric column -> its column of `num`
    history: int | None  # the user's recent positive items: an index into `seq`
    sequences: Mapping[str, int]  # event sequence name -> its array in `seq` (after the history)
    # The ordered target statistic's (rate, log-count): columns of `num` (a tower input) or
    # of `score` (the per-candidate score term's input, model.item_term); None without one.
    label_stat: slice | None
    label_stat_in: Literal["num", "score"] | None
    num_dim: int  # width of `num`
    score_dim: int  # width of `score`

    @classmethod
    def of(cls, id_column: str, singles: Sequence[str], multis: Sequence[str],
           numerics: Sequence[str], history: str | None,
           label_stat: Literal["tower", "score"] | None,
           sequences: Sequence[str] = ()) -> TableLayout:
        """The layout `TowerCodec.encode` writes: the id, then single-valued fields; multi-valued
        fields, then the history, then the event sequences; numeric columns, then the
        statistic's two columns when it is a tower input, else the statistic alone in `score`."""
        seq = {name: j for j, name in enumerate(multis)}
        if history is not None:
            seq[history] = len(multis)
        events = {name: len(seq) + j for j, name in enumerate(sequences)}
        seq.update(events)
        tower = label_stat == "tower"
        start = len(numerics) if tower else 0
        return cls(cat={name: j for j, name in enumerate([id_column, *singles])}, seq=seq,
                   num={name: j for j, name in enumerate(numerics)},
                   history=len(multis) if history is not None else None, sequences=events,
                   label_stat=slice(start, start + 2) if label_stat else None,
                   label_stat_in=None if label_stat is None else "num" if tower else "score",
                   num_dim=len(numerics) + (2 if tower else 0),
                   score_dim=2 if label_stat == "score" else 0)

    def stat_columns(self, num: np.ndarray, score: np.ndarray | None) -> np.ndarray:
        """A view of rows' statistic columns (N, 2), in whichever array holds them."""
        holder = score if self.label_stat_in == "score" else num
        if self.label_stat is None or holder is None:
            raise ValueError("these rows hold no label statistic")
        return holder[:, self.label_stat]

    def with_label_stat(self, num: np.ndarray, score: np.ndarray | None, stat: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray | None]:
        """Copies of rows' `num` (N, F_num) and `score` (N, S) with the statistic's columns set
        to `stat` (N, 2), wherever the layout keeps them."""
        if self.label_stat is None:
            raise ValueError("this tower has no label statistic")
        if self.label_stat_in == "score":
            return num, stat.astype(np.float32, copy=True)
        num = num.copy()
        num[:, self.label_stat] = stat
        return num, score
