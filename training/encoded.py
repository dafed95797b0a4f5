"""Encoded interaction rows, as the batches read them: each split's rows pointing into the
encoded user / item tables, and the windows that replace a user's multi-valued fields row by row
(the history, the event sequences). training.features makes them; training.dataset,
training.stream and training.shards read them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.features import EncodedTable, TowerCodec
from training.split import EvalMode, HeldOut


@dataclass(frozen=True)
class RowHistory:
    """Each row's recent positive items (or an event sequence's latest tokens), as windows into
    one token array (no (N, max_len) copy): row r's, most recent first, are tokens[end[r] - 1],
    tokens[end[r] - 2], ... for length[r] tokens; training.dataset gathers them per batch."""

    tokens: np.ndarray  # (P,) int64 token of every counted event (train positive), by (user, time)
    end: np.ndarray  # (N,) int64
    length: np.ndarray  # (N,) int64, at most max_len
    field: int  # the user table's field these windows replace (layout.history, layout.sequences)

    @classmethod
    def from_padded(cls, recent: np.ndarray, field: int) -> RowHistory:
        """From (N, M) tokens, most recent first, 0-padded: each row's M slots reversed (oldest
        first), so that row r's window ends at (r + 1) * M."""
        n, width = recent.shape
        return cls(np.ascontiguousarray(recent[:, ::-1]).reshape(-1),
                   np.arange(1, n + 1, dtype=np.int64) * width,
                   (recent > 0).sum(axis=1).astype(np.int64), field)

    def take(self, rows: np.ndarray) -> RowHistory:
        return RowHistory(self.tokens, self.end[rows], self.length[rows], self.field)

    def padded(self, max_len: int) -> np.ndarray:
        """(N, max_len) int64 tokens, most recent first, 0-padded (from_padded's inverse)."""
        offsets = np.arange(max_len, dtype=np.int64)  # 0 = the most recent
        taken = offsets[None, :] < self.length[:, None]
        if not len(self.tokens):  # no counted events at all
            return np.zeros(taken.shape, np.int64)
        positions = np.where(taken, self.end[:, None] - 1 - offsets[None, :], 0)
        return np.where(taken, self.tokens[positions], 0)


@dataclass
class EncodedSplit:
    """Interaction rows of one split, pointing into the encoded user / item tables."""

    user_row: np.ndarray  # (N,) int64 row of EncodedData.users
    item_row: np.ndarray  # (N,) int64 row of EncodedData.items
    user_num: np.ndarray  # (N, F_num_u) float32: the table's numerics, as-of label statistic
    item_num: np.ndarray  # (N, F_num_i) float32
    label: np.ndarray  # (N,) float32
    history: RowHistory | None = None  # replaces the user table's history field, row by row
    item_score: np.ndarray | None = None  # (N, S) float32: the items' score-term features
    sequences: tuple[RowHistory, ...] = ()  # each replaces an event sequence field, row by row

    def __len__(self) -> int:
        return len(self.label)

    def take(self, rows: np.ndarray) -> EncodedSplit:
        """These positions of the split (windows sliced, not copied)."""
        return EncodedSplit(
            self.user_row[rows], self.item_row[rows], self.user_num[rows], self.item_num[rows],
            self.label[rows], None if self.history is None else self.history.take(rows),
            None if self.item_score is None else self.item_score[rows],
            tuple(w.take(rows) for w in self.sequences))


@dataclass
class EncodedData:
    user_codec: TowerCodec
    item_codec: TowerCodec
    users: EncodedTable  # every known user, as of the train cutoff
    items: EncodedTable  # every known item, as of the train cutoff
    train: EncodedSplit  # each row as of its own time
    held_out: dict[EvalMode, dict[HeldOut, EncodedSplit]]  # valid / test rows as served, per mode
    prior: float  # global train positive rate

    def split(self, name: str) -> EncodedSplit:
        """"train", or a held-out split in `cutoff` mode (what a bundle serves by default)."""
        return self.train if name == "train" else self.held_out[EvalMode.cutoff][HeldOut(name)]

    def every_split(self) -> list[EncodedSplit]:
        """Train, then each held-out split in each evaluation mode."""
        return [self.train, *(s for splits in self.held_out.values() for s in splits.values())]
