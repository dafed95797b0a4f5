"""FE-Block scoring (IntTower, arXiv 2210.09890, Eq. 6-8): multi-layer, multi-head MaxSim.

    s(u, i) = Σ_l Σ_h max_k <U_l[h], V[k]>

Pure functions on tensors, the reference of the maths: training, evaluation and the service's
torch backend (CUDA, the ablations) call them. The service's CPU path runs a compiled kernel
instead (model/kernels/fused.py: gather and MaxSim in one pass, float32 or int8 item vectors),
which tests/test_fused.py holds equal to these functions. Because every user layer meets the same
item heads V, serving stacks the user heads into U* of shape (L·H_u, d) and computes one MaxSim
against N candidates.

`fe_block=False` is the ablation "no FE-Block": a plain dot product of the flattened last user head
set and the flattened item heads (needs H_u == H_i).
"""

from __future__ import annotations

import torch
from torch import Tensor


def score_pairs(user_heads: Tensor, item_heads: Tensor, fe_block: bool = True,
                maxsim: str = "user") -> Tensor:
    """Aligned pairs: (B, L, Hu, d) x (B, Hi, d) -> (B,)."""
    if not fe_block:
        return (user_heads[:, -1].flatten(1) * item_heads.flatten(1)).sum(-1)
    # (B, L*Hu, d) x (B, Hi, d) -> (B, L*Hu, Hi): every user head against every item head.
    sim = torch.einsum("brd,bkd->brk", user_heads.flatten(1, 2), item_heads)
    if maxsim == "item":
        return sim.amax(dim=1).sum(dim=-1)
    return sim.amax(dim=-1).sum(dim=-1)


def score_one_vs_n(
    user_stack: Tensor, item_heads: Tensor, fe_block: bool = True, user_heads: int | None = None,
    maxsim: str = "user",
) -> Tensor:
    """One user against N candidates: (L*Hu, d) x (N, Hi, d) -> (N,).

    `user_heads` (H_u) is needed only for the dot-product ablation, to find the last layer's rows.
    """
    if not fe_block:
        if user_heads is None:
            raise ValueError("the dot-product score needs user_heads to find the last layer")
        last = user_stack[-user_heads:].reshape(-1)  # (Hu*d,)
        return item_heads.flatten(1) @ last  # (N, Hi*d) @ (Hi*d,) -> (N,)
    # (N, Hi, d) @ (d, R) -> (N, Hi, R); max over item heads, sum over the R user rows.
    sim = torch.matmul(item_heads, user_stack.T)
    if maxsim == "item":
        return sim.amax(dim=-1).sum(dim=-1)
    return sim.amax(dim=1).sum(dim=-1)
