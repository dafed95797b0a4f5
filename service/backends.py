"""Where the user tower and the candidate scores run: compiled kernels on the CPU, torch on an
accelerator. Both take and return host numpy arrays, so service.scorer is one code path for every
device; only these two classes differ.

- `FusedCpu` (device cpu, FE-Block): the user tower in one compiled call (model.cpu_tower), and
  one fused pass that gathers the candidates' item heads and takes their MaxSim (model.fused). At
  one user per request both beat torch, whose per-op dispatch outweighs such small arithmetic.
- `TorchOnDevice` (cuda, or the dot-product ablation): the bundle's module itself —
  `encode_user`, `index_select`, `score_candidates` (model.interaction), as in training.
Tests hold the two equal on the CPU (tests/test_scoring_backends.py).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from model.bundle import Bundle
from model.cpu_tower import CpuUserTower
from model.features import EncodedTable
from model.fused import maxsim_rows


class ScoringBackend(Protocol):
    def user_heads(self, users: EncodedTable) -> np.ndarray:
        """Encoded user rows -> heads (B, L, Hu, d) float32."""
        ...

    def logits(self, user_heads: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """One user's heads (L, Hu, d) against the catalogue rows `rows` (N,) -> logits (N,)."""
        ...


class FusedCpu:
    def __init__(self, bundle: Bundle) -> None:
        self._tower = CpuUserTower(bundle.model)
        self._items = bundle.item_vectors  # (N_items, Hi, d), cache-line aligned by the loader
        self._bias = np.float32(bundle.model.bias.item())

    def user_heads(self, users: EncodedTable) -> np.ndarray:
        return self._tower(users)

    def logits(self, user_heads: np.ndarray, rows: np.ndarray) -> np.ndarray:
        logits = maxsim_rows(self._items, rows, user_heads.reshape(-1, user_heads.shape[-1]))
        logits += self._bias
        return logits


class TorchOnDevice:
    def __init__(self, bundle: Bundle) -> None:
        self._model = bundle.model
        self._device = next(bundle.model.parameters()).device
        # (N_items, Hi, d) on the device; on the CPU a view of the bundle's array, not a copy.
        self._items = torch.from_numpy(bundle.item_vectors).to(self._device)

    @torch.inference_mode()
    def user_heads(self, users: EncodedTable) -> np.ndarray:
        return self._model.encode_user(users.inputs(self._device)).heads.cpu().numpy()

    @torch.inference_mode()
    def logits(self, user_heads: np.ndarray, rows: np.ndarray) -> np.ndarray:
        items = self._items.index_select(0, torch.from_numpy(rows).to(self._device))
        heads = torch.from_numpy(user_heads).to(self._device)
        return self._model.score_candidates(heads, items).cpu().numpy()


def scoring_backend(bundle: Bundle) -> ScoringBackend:
    """The fused CPU path where it applies (CPU, FE-Block score); the torch module elsewhere."""
    on_cpu = next(bundle.model.parameters()).device.type == "cpu"
    return FusedCpu(bundle) if on_cpu and bundle.config.fe_block else TorchOnDevice(bundle)
