"""Feature codecs: raw table values -> the int64 / float32 arrays a tower eats.

Fitted on the train split by `training.features` and saved in the bundle's features.json, so the
service encodes request-supplied features of an unknown user with exactly the training rules and
never touches training code or raw data. Index 0 is padding, index 1 out-of-vocabulary (unseen or
missing values); vocabulary tokens start at 2.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from model.config import TowerSpec
from model.inputs import TowerInputs
from model.layout import TableLayout

PAD, OOV = 0, 1


@dataclass(frozen=True)
class TokenCodec:
    """A categorical (one token) or multi-valued (tokens joined by `sep`) field."""

    column: str
    vocab: tuple[str, ...]  # token at index i + 2
    multi: bool = False
    sep: str = " "
    max_len: int = 1
    prefix: int | None = None  # keep the first `prefix` characters (zip code -> region)

    @property
    def size(self) -> int:
        return len(self.vocab) + 2

    def tokens(self, values: pd.Series) -> pd.Series:
        values = values.fillna("").astype(str)
        return values.str[: self.prefix] if self.prefix else values

    def lookup(self, tokens: pd.Series) -> np.ndarray:
        """(N,) tokens as written -> (N,) int64 indices, OOV where unseen."""
        index = pd.Index(self.vocab).get_indexer(tokens)  # -1 where unseen
        return np.where(index < 0, OOV, index + 2).astype(np.int64)

    def encode(self, values: pd.Series) -> np.ndarray:
        """(N,) raw strings -> (N,) int64, or (N, max_len) int64 right-padded for multi fields."""
        tokens = self.tokens(values)
        if not self.multi:
            return self.lookup(tokens)
        lists = tokens.reset_index(drop=True).str.split(self.sep)
        flat = lists.map(lambda ts: [t for t in ts if t][: self.max_len]).explode().dropna()
        out = np.zeros((len(values), self.max_len), dtype=np.int64)  # (N, M), 0 = padding
        if len(flat):
            rows = flat.index.to_numpy()  # position of the source row, repeated per token
            cols = flat.groupby(level=0).cumcount().to_numpy()
            out[rows, cols] = self.lookup(flat.astype(str))
        return out


@dataclass(frozen=True)
class NumericCodec:
    """A number standardised with train mean / std; missing or unparsable -> the mean (0)."""

    column: str
    mean: float
    std: float

    def encode(self, values: pd.Series) -> np.ndarray:
        x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
        return np.nan_to_num((x - self.mean) / self.std, nan=0.0).astype(np.float32)


@dataclass(frozen=True)
class TargetStatCodec:
    """An entity's ordered target statistic (CatBoost's remedy for prediction shift): the smoothed
    mean of its train labels before a row, `(positives + smoothing * prior) / (count + smoothing)`,
    and beside it log1p(count), so the model knows how far to trust the mean. Both standardised
    with train-row statistics; an entity with no earlier events gets the prior and a zero count.
    """

    prior: float
    smoothing: float
    rate_mean: float
    rate_std: float
    count_mean: float  # of log1p(count)
    count_std: float

    def columns(self, count: np.ndarray, positives: np.ndarray) -> np.ndarray:
        """(N,) event counts and positives -> (N, 2) float32: standardised rate, log-count."""
        count = np.asarray(count, np.float64)
        rate = (np.asarray(positives, np.float64) + self.smoothing * self.prior) / (
            count + self.smoothing)
        return np.stack([(rate - self.rate_mean) / self.rate_std,
                         (np.log1p(count) - self.count_mean) / self.count_std],
                        axis=1).astype(np.float32)

    def counts(self, columns: np.ndarray) -> np.ndarray:
        """(N, 2) columns -> (N,) float64 event counts they encode (rounding aside)."""
        return np.expm1(columns[:, 1].astype(np.float64) * self.count_std + self.count_mean)


@dataclass(frozen=True)
class HistoryCodec:
    """The user's most recent positive items, most recent first, at most `max_len`; mean-pooled
    like any multi-valued field, in an embedding table of the user tower's own. Its tokens are the
    item tower's id tokens (same vocabulary, `vocab_size` rows; unseen items are OOV)."""

    column: str
    max_len: int
    vocab_size: int


@dataclass(frozen=True)
class TowerCodec:
    """Every input of one tower: the id, its categorical / multi / numeric features, the user's
    behaviour history, the label statistic."""

    id: TokenCodec
    tokens: tuple[TokenCodec, ...] = ()
    numeric: tuple[NumericCodec, ...] = ()
    label_stat: TargetStatCodec | None = None
    history: HistoryCodec | None = None  # user tower only
    # Where the label statistic goes: a tower input, or (items) the per-candidate score term's
    label_stat_in: Literal["tower", "score"] = "tower"
    # User sequence fields read from an events table (training.schema.EventsTable), each named
    # by its `column`, its tokens most recent first; user tower only.
    sequences: tuple[TokenCodec, ...] = ()

    @property
    def layout(self) -> TableLayout:
        """Where `encode` puts each field (model.layout)."""
        return TableLayout.of(self.id.column, [t.column for t in self.tokens if not t.multi],
                              [t.column for t in self.tokens if t.multi],
                              [n.column for n in self.numeric],
                              self.history.column if self.history is not None else None,
                              self.label_stat_in if self.label_stat is not None else None,
                              [q.column for q in self.sequences])

    @property
    def spec(self) -> TowerSpec:
        """Table sizes in layout order."""
        cat = [self.id, *(t for t in self.tokens if not t.multi)]
        seq = [t.size for t in self.tokens if t.multi]
        if self.history is not None:
            seq.append(self.history.vocab_size)
        seq += [q.size for q in self.sequences]
        layout = self.layout
        return TowerSpec(tuple(c.size for c in cat), tuple(seq), layout.num_dim,
                         layout.score_dim, layout.history)

    @property
    def columns(self) -> list[str]:
        """Raw feature columns this tower reads (besides the id); the history's name, then the
        event sequences' names last."""
        history = [self.history.column] if self.history is not None else []
        return ([c.column for c in (*self.tokens, *self.numeric)] + history
                + [q.column for q in self.sequences])

    def encode(self, table: pd.DataFrame, stats: tuple[np.ndarray, np.ndarray] | None = None,
               history: np.ndarray | None = None,
               sequences: list[np.ndarray] | None = None) -> EncodedTable:
        """Raw entity table (index = raw id) -> encoded rows, in `layout` order. `stats`: each
        row's (count, positives) of train events; `history`: (N, max_len) item tokens, 0-padded;
        `sequences`: one (N, max_len) token array per event sequence. Each missing means no
        events: the prior, empty sequences."""
        ids = table.index.astype(str)
        cat = [self.id.encode(pd.Series(ids, index=table.index))]
        cat += [t.encode(table[t.column]) for t in self.tokens if not t.multi]
        seq = [t.encode(table[t.column]) for t in self.tokens if t.multi]
        if self.history is not None:
            seq.append(history if history is not None
                       else np.zeros((len(table), self.history.max_len), np.int64))
        seq += (sequences if sequences is not None
                else [np.zeros((len(table), q.max_len), np.int64) for q in self.sequences])
        num = [n.encode(table[n.column])[:, None] for n in self.numeric]
        score = None
        if self.label_stat is not None:
            count, positives = stats if stats is not None else (np.zeros(len(table)),) * 2
            stat = self.label_stat.columns(count, positives)
            if self.label_stat_in == "score":
                score = stat
            else:
                num.append(stat)
        return EncodedTable(
            ids=np.asarray(ids, dtype=object),
            cat=np.stack(cat, axis=1),
            seq=seq,
            num=np.concatenate(num, axis=1) if num else np.zeros((len(table), 0), np.float32),
            score=score,
        )

    def encode_unknown(self, ids: list[str]) -> EncodedTable:
        """Rows of entities nothing is known of: ids outside the vocabulary become OOV, every
        feature is missing, no events (the prior, an empty history)."""
        return self.encode(pd.DataFrame({c: [None] * len(ids) for c in self.columns},
                                        index=pd.Index(ids)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TowerCodec:
        def token(d: dict[str, Any]) -> TokenCodec:
            return TokenCodec(**{**d, "vocab": tuple(d["vocab"])})

        stat, history = data.get("label_stat"), data.get("history")
        return cls(
            id=token(data["id"]),
            tokens=tuple(token(t) for t in data.get("tokens", ())),
            numeric=tuple(NumericCodec(**n) for n in data.get("numeric", ())),
            label_stat=TargetStatCodec(**stat) if stat else None,
            history=HistoryCodec(**history) if history else None,
            label_stat_in=data.get("label_stat_in", "tower"),
            sequences=tuple(token(q) for q in data.get("sequences", ())),
        )


@dataclass
class EncodedTable:
    """Encoded rows of an entity table, row-aligned with `ids`."""

    ids: np.ndarray  # (N,) raw ids as str (object array)
    cat: np.ndarray  # (N, F_cat) int64, id first
    seq: list[np.ndarray] = field(default_factory=list)  # per multi field (N, M_f) int64
    num: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # (N, F_num)
    # (N, S) float32 features outside the tower: the per-candidate score term's (None: S = 0)
    score: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, rows: np.ndarray) -> EncodedTable:
        return EncodedTable(
            self.ids[rows], self.cat[rows], [s[rows] for s in self.seq], self.num[rows],
            None if self.score is None else self.score[rows],
        )

    def concat(self, other: EncodedTable) -> EncodedTable:
        """These rows, then `other`'s (same fields)."""
        return EncodedTable(
            np.concatenate([self.ids, other.ids]), np.concatenate([self.cat, other.cat]),
            [np.concatenate([a, b]) for a, b in zip(self.seq, other.seq, strict=True)],
            np.concatenate([self.num, other.num]),
            None if self.score is None or other.score is None
            else np.concatenate([self.score, other.score]),
        )

    def inputs(self, device: torch.device | str = "cpu") -> TowerInputs:
        """All rows as one TowerInputs batch."""
        return TowerInputs(
            torch.from_numpy(self.cat).to(device),
            tuple(torch.from_numpy(s).to(device) for s in self.seq),
            torch.from_numpy(self.num).to(device),
            None if self.score is None else torch.from_numpy(self.score).to(device),
        )

    def to_frame(self, id_column: str) -> pd.DataFrame:
        """Flat frame for Parquet: id, cat_<j>, seq_<j> (lists), num_<j>, score_<j>."""
        columns: dict[str, Any] = {id_column: self.ids.astype(str)}
        columns |= {f"cat_{j}": self.cat[:, j] for j in range(self.cat.shape[1])}
        columns |= {f"seq_{j}": list(s) for j, s in enumerate(self.seq)}
        columns |= {f"num_{j}": self.num[:, j] for j in range(self.num.shape[1])}
        if self.score is not None:
            columns |= {f"score_{j}": self.score[:, j] for j in range(self.score.shape[1])}
        return pd.DataFrame(columns)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, id_column: str) -> EncodedTable:
        def block(prefix: str) -> list[str]:
            return sorted((c for c in frame.columns if c.startswith(prefix)),
                          key=lambda c: int(c.split("_")[1]))

        num_cols, score_cols = block("num_"), block("score_")
        # np.array copies: Parquet hands back read-only buffers, and torch needs writable memory.
        return cls(
            ids=frame[id_column].astype(str).to_numpy(dtype=object),
            cat=np.array(frame[block("cat_")].to_numpy(dtype=np.int64)),
            seq=[np.stack(frame[c].to_numpy()).astype(np.int64) for c in block("seq_")],
            num=np.array(frame[num_cols].to_numpy(dtype=np.float32)) if num_cols
            else np.zeros((len(frame), 0), np.float32),
            score=np.array(frame[score_cols].to_numpy(dtype=np.float32)) if score_cols else None,
        )
