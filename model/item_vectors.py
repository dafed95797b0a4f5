"""The catalogue's item heads as a bundle stores them and the service scores them.

    float32   (N, Hi, d) as the item tower wrote them: 512 bytes an item at Hi=4, d=32
    int8      (N, Hi, d) codes q in [-127, 127] and (N, Hi) float32 scales s, one per head vector:
              v ≈ s · q with s = max_j |v_j| / 127 (symmetric, round to nearest): 144 bytes an item

Scoring one user against N random candidates is a gather of cold rows, so its cost follows the bytes
each candidate brings in (`inttower bench kernel`); int8 rows bring 3.6x fewer. Because <u, s·q> =
s·<u, q>, a kernel scores the codes directly and applies each head's scale before the max
(model.kernels.fused), with no float32 copy of the catalogue. The rounding moves a head's dot
product by at most (s/2)·Σ_j |u_j|; the quality cost is measured on the held-out splits
(docs/results).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from model.kernels.aligned import aligned_copy

_INT8_MAX = 127  # symmetric codes: -127..127, so q and -q are both representable


class ItemDtype(StrEnum):
    float32 = "float32"
    int8 = "int8"


DEFAULT_ITEM_DTYPE = ItemDtype.int8


@dataclass(frozen=True)
class ItemVectors:
    values: np.ndarray  # (N, Hi, d): float32 heads, or int8 codes
    scales: np.ndarray | None = None  # (N, Hi) float32 scales of int8 codes; None for float32

    def __post_init__(self) -> None:
        dtype = self.values.dtype
        if self.values.ndim != 3 or dtype not in (np.float32, np.int8):
            raise ValueError(f"item vectors must be (N, Hi, d) float32 or int8, not "
                             f"{self.values.shape} {dtype}")
        if (dtype == np.int8) != (self.scales is not None):
            raise ValueError("int8 item vectors need their scales, float32 ones have none")
        if self.scales is not None and (self.scales.shape != self.values.shape[:2]
                                        or self.scales.dtype != np.float32):
            raise ValueError(f"scales {self.scales.shape} {self.scales.dtype} do not fit "
                             f"codes {self.values.shape}: need (N, Hi) float32")

    @classmethod
    def encode(cls, heads: np.ndarray, dtype: ItemDtype | str = DEFAULT_ITEM_DTYPE
               ) -> ItemVectors:
        """(N, Hi, d) float32 heads stored as `dtype`."""
        heads = np.asarray(heads, np.float32)
        if ItemDtype(dtype) is ItemDtype.float32:
            return cls(heads)
        largest = np.abs(heads).max(axis=2)  # (N, Hi)
        scales = (largest / _INT8_MAX).astype(np.float32)
        # A zero head keeps scale 0 and codes 0; dividing by 1 there avoids 0/0.
        codes = np.rint(heads / np.where(scales > 0, scales, 1)[..., None])
        return cls(np.clip(codes, -_INT8_MAX, _INT8_MAX).astype(np.int8), scales)

    @property
    def dtype(self) -> ItemDtype:
        return ItemDtype(self.values.dtype.name)

    @property
    def shape(self) -> tuple[int, int, int]:
        n, heads, dim = self.values.shape
        return n, heads, dim

    def __len__(self) -> int:
        return len(self.values)

    def dequantised(self) -> np.ndarray:
        """(N, Hi, d) float32 heads: the stored array itself for float32, s·q for int8."""
        if self.scales is None:
            return self.values
        return self.values.astype(np.float32) * self.scales[..., None]

    def aligned(self) -> ItemVectors:
        """A copy whose rows start on cache-line boundaries (model.kernels.aligned), for serving."""
        return ItemVectors(aligned_copy(self.values),
                           None if self.scales is None else aligned_copy(self.scales))
