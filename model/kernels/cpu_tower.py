"""`IntTower.encode_user` for inference on the CPU, one compiled call per request.

At one user per request the user tower is a few dozen tiny operations, and per-operation dispatch
(torch's especially, numpy's too) costs far more than their arithmetic. This runs the whole tower
- embeddings, multi-valued mean pooling, Light-SE, the MLP and the head projections - in one numba
call. Inference needs no autograd and no BatchNorm statistics: each Linear -> BatchNorm pair folds
into one affine map, y = x·(W·s)ᵀ + (b - μ)·s + β with s = γ / √(σ² + ε); Dropout is the identity.
The embedding tables are the model's own CPU weights, not copies.

Same arithmetic as the torch module up to float32 rounding: tests/test_cpu_tower.py holds them
equal on trained and hand-made models, known and unknown users.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit, types
from numba.typed import List
from torch import nn

from model.features import EncodedTable
from model.inttower import IntTower
from model.layers import LightSE


@njit(fastmath=True, nogil=True, cache=True)
def _affine(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, relu: bool,
            out: np.ndarray) -> None:
    """out = x @ weight + bias, then ReLU if asked: (I,) x (I, O) + (O,) -> (O,)."""
    out[:] = bias
    for i in range(x.shape[0]):
        xi = x[i]
        for j in range(out.shape[0]):  # contiguous in j: vectorised
            out[j] += xi * weight[i, j]
    if relu:
        for j in range(out.shape[0]):
            out[j] = max(out[j], np.float32(0.0))


@njit(fastmath=True, nogil=True, cache=True)
def _encode(cat, seq, seq_ends, num, cat_tables, seq_tables, se_weight, se_bias, weights,
            biases, head_weights, head_biases, out):  # type: ignore[no-untyped-def]
    """B users -> heads out (B, L, Hu*d).

    cat (B, F_cat) and seq (B, ΣM_f) int64 (field f's tokens end at seq_ends[f]); num (B, F_num);
    tables, weights and biases: lists, one entry per field / layer; se_weight (F, F) is empty
    without Light-SE.
    """
    n_cat, dim = len(cat_tables), cat_tables[0].shape[1]
    fields = n_cat + len(seq_tables)
    emb = np.empty((fields, dim), np.float32)
    x = np.empty(fields * dim + num.shape[1], np.float32)
    for b in range(cat.shape[0]):
        for f in range(n_cat):
            emb[f] = cat_tables[f][cat[b, f]]
        start = 0
        for f in range(len(seq_tables)):  # mean over non-padding tokens (padding rows are zero)
            emb[n_cat + f] = 0.0
            count = 0
            for m in range(start, seq_ends[f]):
                emb[n_cat + f] += seq_tables[f][seq[b, m]]
                count += seq[b, m] > 0
            emb[n_cat + f] /= max(count, 1)
            start = seq_ends[f]
        if se_weight.shape[0]:  # Light-SE: e * (1 + softmax(W·mean_E(e) + c))
            z = np.empty(fields, np.float32)
            for f in range(fields):
                z[f] = emb[f].sum() / dim
            logits = np.empty(fields, np.float32)
            _affine(z, se_weight, se_bias, False, logits)
            a = np.exp(logits - logits.max())
            a /= a.sum()
            for f in range(fields):
                emb[f] *= 1 + a[f]
        x[: fields * dim] = emb.ravel()
        x[fields * dim:] = num[b]
        h = x
        for layer in range(len(weights)):
            hidden = np.empty(biases[layer].shape[0], np.float32)
            _affine(h, weights[layer], biases[layer], True, hidden)  # Linear + BN folded, ReLU
            _affine(hidden, head_weights[layer], head_biases[layer], False, out[b, layer])
            h = hidden


def _array(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().cpu().numpy(), np.float32)


def _transposed(linear: nn.Linear) -> tuple[np.ndarray, np.ndarray]:
    return np.ascontiguousarray(_array(linear.weight).T), _array(linear.bias)


def _folded(linear: nn.Linear, norm: nn.BatchNorm1d) -> tuple[np.ndarray, np.ndarray]:
    """Linear then BatchNorm (eval) as one affine map (I, O), (O,), folded in float64."""
    assert norm.running_mean is not None and norm.running_var is not None
    scale = _array(norm.weight).astype(np.float64) / np.sqrt(
        _array(norm.running_var).astype(np.float64) + norm.eps)
    weight = _array(linear.weight).T.astype(np.float64) * scale
    bias = (_array(linear.bias) - _array(norm.running_mean)) * scale + _array(norm.bias)
    return np.ascontiguousarray(weight, np.float32), bias.astype(np.float32)


def _matrices(arrays: list[np.ndarray]) -> List:
    typed = List.empty_list(types.float32[:, ::1])
    for array in arrays:
        typed.append(array)
    return typed


def _vectors(arrays: list[np.ndarray]) -> List:
    typed = List.empty_list(types.float32[::1])
    for array in arrays:
        typed.append(array)
    return typed


class CpuUserTower:
    """The user tower and head projections of an IntTower, for inference on the CPU."""

    def __init__(self, model: IntTower) -> None:
        c, tower = model.config, model.user_tower
        self._cat = _matrices([_array(t.weight) for t in tower.embedding.cat])  # (V_f, E)
        self._seq = _matrices([_array(t.weight) for t in tower.embedding.seq])
        se = tower.light_se
        fields = c.user.num_fields
        self._light_se = (_transposed(se.proj) if isinstance(se, LightSE)
                          else (np.zeros((0, fields), np.float32), np.zeros(0, np.float32)))
        layers = [_folded(layer[0], layer[1]) for layer in tower.mlp.layers]
        heads = [_transposed(proj) for proj in model.user_proj]
        self._weights = _matrices([w for w, _ in layers])
        self._biases = _vectors([b for _, b in layers])
        self._head_weights = _matrices([w for w, _ in heads])
        self._head_biases = _vectors([b for _, b in heads])
        self._shape = (c.layers, c.user_heads, c.head_dim)

    def __call__(self, x: EncodedTable) -> np.ndarray:
        """Encoded user rows (B of them) -> heads (B, L, Hu, d) float32."""
        users = len(x)
        seq = (np.concatenate(x.seq, axis=1) if x.seq else np.zeros((users, 0), np.int64))
        seq_ends = np.cumsum([s.shape[1] for s in x.seq], dtype=np.int64)
        out = np.empty((users, self._shape[0], self._shape[1] * self._shape[2]), np.float32)
        _encode(np.ascontiguousarray(x.cat), seq, seq_ends, np.ascontiguousarray(x.num, np.float32),
                self._cat, self._seq, *self._light_se, self._weights, self._biases,
                self._head_weights, self._head_biases, out)
        return out.reshape(users, *self._shape)
