"""Candidate generation for whole-catalogue top-k: a faiss index over the item head vectors.

The FE-Block score is s(u, i) = Σ_r max_k <U*_r, V_ik> (model.interaction), so an item scores high
when some of its heads lie close to some user rows. As in ColBERT's candidate generation, the index
holds every item head vector (N·Hi rows of d); each of the L·Hu user rows is searched, hits map back
to their items, and the union goes to an exact FE-Block re-rank (which this module does not do).
The dot-product ablation (fe_block=False) scores flattened vectors, so its index holds one (Hi·d)
row per item and is searched with the flattened last user layer.

Up to EXACT_MAX_ROWS rows the index is an exact inner-product scan; above, an IVF index (k-means
cells, `nprobe` of them scanned per query). It is built once at export time and saved in the bundle.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# faiss's loader narrates its CPU-feature probing at INFO, a harmless ModuleNotFoundError included.
logging.getLogger("faiss.loader").setLevel(logging.WARNING)
import faiss  # noqa: E402

# One user's L·Hu = 12 query rows are "few" by faiss's default measure, which then computes one
# dot product per (query, row) pair; its BLAS path (one matrix product, then top-k) returns the
# same hits and made /recommend 40 % cheaper on an ml-1m-sized catalogue (measured, 2 cores).
faiss.cvar.distance_compute_blas_threshold = 1

EXACT_MAX_ROWS = 262_144  # a flat scan of 256k x 32 floats is a few ms; above that, IVF pays off
NPROBE = 64  # IVF cells scanned per query: recall against latency
TRAIN_PER_CELL = 64  # k-means sample per IVF cell (faiss wants at least 39)


def index_rows(item_vectors: np.ndarray, fe_block: bool = True) -> np.ndarray:
    """(N, Hi, d) item heads -> index rows: (N*Hi, d) for MaxSim, (N, Hi*d) for the dot ablation."""
    n, heads, dim = item_vectors.shape
    shape = (n * heads, dim) if fe_block else (n, heads * dim)
    return np.ascontiguousarray(item_vectors.reshape(shape), dtype=np.float32)


def query_rows(user_heads: np.ndarray, fe_block: bool = True) -> np.ndarray:
    """(L, Hu, d) user heads -> queries: the (L*Hu, d) stack, or the (1, Hu*d) flat last layer."""
    if fe_block:
        rows = user_heads.reshape(-1, user_heads.shape[-1])
    else:
        rows = user_heads[-1].reshape(1, -1)
    return np.ascontiguousarray(rows, dtype=np.float32)


@dataclass(frozen=True)
class ItemIndex:
    index: faiss.Index
    rows_per_item: int  # Hi for MaxSim, 1 for the dot ablation

    def describe(self) -> dict[str, Any]:
        kind = "ivf" if isinstance(self.index, faiss.IndexIVF) else "flat"
        return {"kind": kind, "rows": int(self.index.ntotal), "dim": int(self.index.d),
                "rows_per_item": self.rows_per_item}

    def search(self, queries: np.ndarray, depth: int) -> np.ndarray:
        """(Q, D) float32 queries, `depth` best rows each -> sorted unique item rows (int64)."""
        depth = min(depth, self.index.ntotal)
        _, hits = self.index.search(queries, depth)  # (Q, depth), -1 where a probe ran dry
        return np.unique(hits[hits >= 0] // self.rows_per_item)

    def save(self, path: Path) -> None:
        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path, shape: tuple[int, int, int], fe_block: bool = True) -> ItemIndex:
        """Read an index saved for item vectors of `shape` (N, Hi, d); ValueError if it does not
        fit them."""
        index = faiss.read_index(str(path))
        n, heads, dim = shape
        rows, width = (n * heads, dim) if fe_block else (n, heads * dim)
        if (index.ntotal, index.d) != (rows, width):
            raise ValueError(f"{path} holds {index.ntotal} rows of {index.d}, "
                             f"the item vectors need {rows} of {width}")
        return cls(index, heads if fe_block else 1)


def build_item_index(item_vectors: np.ndarray, fe_block: bool = True,
                     exact_max_rows: int = EXACT_MAX_ROWS, nprobe: int = NPROBE,
                     seed: int = 0) -> ItemIndex:
    """Index the (N, Hi, d) item head vectors for inner-product search."""
    rows = index_rows(item_vectors, fe_block)
    count, dim = rows.shape
    if count <= exact_max_rows:
        index: faiss.Index = faiss.IndexFlatIP(dim)
    else:
        cells = int(4 * math.sqrt(count))  # the usual nlist ~ 4·sqrt(rows) rule
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, cells, faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(seed).permutation(count)[: cells * TRAIN_PER_CELL]
        index.train(rows[np.sort(sample)])
        index.nprobe = min(nprobe, cells)
    index.add(rows)
    return ItemIndex(index, item_vectors.shape[1] if fe_block else 1)
