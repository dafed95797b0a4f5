"""FE-Block maths: a hand-computed MaxSim, pairs vs one-vs-N agreement, the dot ablation."""

import pytest
import torch

from model.interaction import score_one_vs_n, score_pairs


def test_maxsim_matches_a_hand_computed_case() -> None:
    # L=2 layers, Hu=2 heads, d=2; one item with Hi=2 heads.
    user = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 1.0], [-1.0, 0.0]]])  # (L, Hu, d)
    item = torch.tensor([[2.0, 0.0], [0.0, 3.0]])  # (Hi, d)
    # layer 1: max(2, 0) + max(0, 3) = 5; layer 2: max(2, 3) + max(-2, 0) = 3
    expected = torch.tensor([8.0])
    assert torch.equal(score_pairs(user[None], item[None]), expected)
    assert torch.equal(score_one_vs_n(user.reshape(-1, 2), item[None]), expected)
    # per item head, over all four user rows: max(2, 0, 2, -2) + max(0, 3, 3, 0) = 5
    per_item = torch.tensor([5.0])
    assert torch.equal(score_pairs(user[None], item[None], maxsim="item"), per_item)
    assert torch.equal(score_one_vs_n(user.reshape(-1, 2), item[None], maxsim="item"), per_item)


@pytest.mark.parametrize(("layers", "user_heads", "item_heads"), [(3, 4, 4), (1, 2, 5), (2, 8, 1)])
@pytest.mark.parametrize("maxsim", ["user", "item"])
def test_pairs_and_one_vs_n_agree(layers: int, user_heads: int, item_heads: int,
                                  maxsim: str) -> None:
    gen = torch.Generator().manual_seed(0)
    n, d = 37, 16
    user = torch.randn(layers, user_heads, d, generator=gen)
    items = torch.randn(n, item_heads, d, generator=gen)
    paired = score_pairs(user.expand(n, -1, -1, -1), items, maxsim=maxsim)
    one_vs_n = score_one_vs_n(user.reshape(-1, d), items, maxsim=maxsim)
    torch.testing.assert_close(one_vs_n, paired, rtol=1e-5, atol=1e-5)


def test_dot_ablation_uses_only_the_last_user_layer() -> None:
    gen = torch.Generator().manual_seed(1)
    user = torch.randn(3, 4, 8, generator=gen)
    items = torch.randn(5, 4, 8, generator=gen)
    expected = items.flatten(1) @ user[-1].reshape(-1)
    paired = score_pairs(user.expand(5, -1, -1, -1), items, fe_block=False)
    one_vs_n = score_one_vs_n(user.reshape(-1, 8), items, fe_block=False, user_heads=4)
    torch.testing.assert_close(paired, expected)
    torch.testing.assert_close(one_vs_n, expected)
