"""Where the candidates' FE-Block scores are computed: a fused compiled kernel on the CPU, the
torch module on an accelerator. Both take and return host numpy arrays, so service.scorer is one
code path for every device; only these two classes differ. (The user tower runs on the host
everywhere, in one compiled call: model.cpu_tower. At one user per request that beats torch on a
GPU too, where a dozen tiny kernel launches and a sync cost a millisecond.)

- `FusedCpu` (device cpu, FE-Block): one pass that gathers the candidates' item heads and takes
  their MaxSim (model.fused), instead of torch's four (gather, matmul, max, sum).
- `TorchOnDevice` (cuda, or the dot-product ablation): `index_select`, then the model's own
  `score_candidates` (model.interaction), as in training.
Tests hold the two equal on the CPU (tests/test_scoring_backends.py).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from model.bundle import Bundle
from model.fused import maxsim_rows


class CandidateScorer(Protocol):
    def logits(self, user_heads: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """One user's heads (L, Hu, d) against the catalogue rows `rows` (N,) -> logits (N,)."""
        ...


class FusedCpu:
    def __init__(self, bundle: Bundle) -> None:
        self._items = bundle.item_vectors  # (N_items, Hi, d), cache-line aligned by the loader
        self._bias = np.float32(bundle.model.bias.item())

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
    def logits(self, user_heads: np.ndarray, rows: np.ndarray) -> np.ndarray:
        items = self._items.index_select(0, torch.from_numpy(rows).to(self._device))
        heads = torch.from_numpy(user_heads).to(self._device)
        return self._model.score_candidates(heads, items).cpu().numpy()


def candidate_scorer(bundle: Bundle) -> CandidateScorer:
    """The fused CPU path where it applies (CPU, FE-Block score); the torch module elsewhere."""
    on_cpu = next(bundle.model.parameters()).device.type == "cpu"
    return FusedCpu(bundle) if on_cpu and bundle.config.fe_block else TorchOnDevice(bundle)
