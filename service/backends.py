"""Every per-request computation of the service, behind one seam chosen once per device: the user
heads, the candidates' logits (bias and per-item score term included) and the whole-catalogue
index search. service.scorer
sees host numpy arrays only, so the CPU and the accelerator paths differ here and nowhere else.

- `HostBackend` (device cpu, FE-Block score): the user tower in one compiled call
  (model.kernels.cpu_tower: at one user per request, per-operation dispatch costs far more than the
  arithmetic) and one fused pass that gathers the candidates' item heads, float32 or int8, and takes
  their MaxSim (model.kernels.fused) instead of torch's four (gather, matmul, max, sum); a large
  request's candidates in slices on several cores (service.slices).
- `TorchBackend` (cuda, or the dot-product ablation): the model's own `encode_user` and
  `score_candidates` (model.interaction) on its device, as in training, over float32 heads
  (int8 bundles are dequantised once, on the device).
Both search the same faiss index on the host (faiss-cpu). Tests hold the two equal on the CPU
(tests/test_scoring_backends.py).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from model.bundle import Bundle
from model.features import EncodedTable
from model.item_index import ItemIndex, query_rows
from model.kernels.cpu_tower import CpuUserTower
from model.kernels.fused import maxsim_rows
from service.slices import SlicePool


class Backend(Protocol):
    index: ItemIndex

    def user_heads(self, users: EncodedTable) -> np.ndarray:
        """Encoded user rows (B) -> their heads (B, L, Hu, d) float32."""
        ...

    def logits(self, user_heads: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """One user's heads (L, Hu, d) against the catalogue rows `rows` (N,) -> logits (N,)."""
        ...

    def search(self, user_heads: np.ndarray, depth: int) -> np.ndarray:
        """Catalogue rows (sorted, unique) of the `depth` nearest items per query row of one
        user's heads (L, Hu, d)."""
        ...


class _IndexSearch:
    """The faiss search both backends share: the bundle's index, on the host. With a
    per-candidate score term the index cannot see (it ranks the vectors alone), the `depth` items
    that term ranks highest join every search's hits, so the exact re-rank sees them too."""

    def __init__(self, bundle: Bundle) -> None:
        self._fe_block = bundle.config.fe_block
        self.index = bundle.item_index
        self._item_offsets = bundle.item_offsets()  # (N_items,) float32 or None, computed once
        self._by_offset = (None if self._item_offsets is None
                           else np.argsort(-self._item_offsets, kind="stable"))

    def search(self, user_heads: np.ndarray, depth: int) -> np.ndarray:
        # (L*Hu, d) queries for MaxSim, or the (1, Hu*d) flat last layer for the dot product
        hits = self.index.search(query_rows(user_heads, self._fe_block), depth)
        return hits if self._by_offset is None else np.union1d(hits, self._by_offset[:depth])


class HostBackend(_IndexSearch):
    def __init__(self, bundle: Bundle, slices: SlicePool) -> None:
        super().__init__(bundle)
        self.user_heads = CpuUserTower(bundle.model)
        self._items = bundle.item_vectors  # (N_items, Hi, d) float32 or int8, cache-line aligned
        self._bias = np.float32(bundle.model.bias.item())
        self._slices = slices

    def logits(self, user_heads: np.ndarray, rows: np.ndarray) -> np.ndarray:
        stack = user_heads.reshape(-1, user_heads.shape[-1])  # (L*Hu, d)
        return self._slices.map(
            lambda part: maxsim_rows(self._items, part, stack, self._item_offsets, self._bias),
            rows)


class TorchBackend(_IndexSearch):
    def __init__(self, bundle: Bundle) -> None:
        super().__init__(bundle)
        self._model = bundle.model
        self._device = next(bundle.model.parameters()).device
        # (N_items, Hi, d) float32 on the device; on the CPU a view of a float32 bundle's array.
        self._items = torch.from_numpy(bundle.item_vectors.dequantised()).to(self._device)
        self._offsets = (None if self._item_offsets is None
                         else torch.from_numpy(self._item_offsets).to(self._device))

    @torch.inference_mode()
    def user_heads(self, users: EncodedTable) -> np.ndarray:
        return self._model.encode_user(users.inputs(self._device)).heads.cpu().numpy()

    @torch.inference_mode()
    def logits(self, user_heads: np.ndarray, rows: np.ndarray) -> np.ndarray:
        rows_on_device = torch.from_numpy(rows).to(self._device)
        items = self._items.index_select(0, rows_on_device)
        offsets = (None if self._offsets is None
                   else self._offsets.index_select(0, rows_on_device))
        heads = torch.from_numpy(user_heads).to(self._device)
        return self._model.score_candidates(heads, items, offsets).cpu().numpy()


def backend_for(bundle: Bundle, slices: SlicePool) -> Backend:
    """The compiled host path where it applies (CPU, the FE-Block's MaxSim per user row, user
    heads from the tower alone), large requests cut into `slices`; the torch module elsewhere
    (the ablations' dot product, MaxSim per item head and interest heads included)."""
    c = bundle.config
    on_cpu = next(bundle.model.parameters()).device.type == "cpu"
    if on_cpu and c.fe_block and c.maxsim == "user" and not c.interest_heads:
        return HostBackend(bundle, slices)
    return TorchBackend(bundle)
