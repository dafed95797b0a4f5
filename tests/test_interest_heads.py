"""Interest heads (an IntTower ablation): one attention readout of the history per head, scored
as one more layer of user heads; the serving forms of the score equal the training form."""

from __future__ import annotations

import pytest
import torch

from model.config import ModelConfig, TowerSpec
from model.inputs import TowerInputs
from model.interest_heads import InterestHeads
from model.inttower import IntTower

USER = TowerSpec(cat_vocab=(10, 5), seq_vocab=(20,), num_dim=2, history=0)
ITEM = TowerSpec(cat_vocab=(20, 4))


def test_an_empty_history_gives_zero_interests_and_padding_is_ignored() -> None:
    torch.manual_seed(0)
    heads = InterestHeads(embed_dim=8, heads=3, head_dim=4)
    rows = torch.randn(2, 5, 8)
    present = torch.tensor([[False] * 5, [True, True, False, False, False]])
    out = heads(rows, present)
    assert out.shape == (2, 12)
    assert torch.equal(out[0], torch.zeros(12))
    changed = rows.clone()
    changed[1, 2:] = 100.0  # padding positions: whatever they hold, nothing moves
    torch.testing.assert_close(heads(changed, present), out)


@pytest.mark.parametrize("maxsim", ["user", "item"])
def test_the_serving_score_equals_the_training_score_with_interest_heads(maxsim: str) -> None:
    torch.manual_seed(1)
    model = IntTower(ModelConfig(user=USER, item=ITEM, interest_heads=True, maxsim=maxsim)).eval()
    users = TowerInputs(torch.randint(0, 5, (3, 2)),
                        (torch.tensor([[3, 4, 0], [0, 0, 0], [5, 9, 2]]),), torch.randn(3, 2))
    items = TowerInputs(torch.randint(0, 4, (3, 2)), (), torch.zeros(3, 0))
    user_heads, item_heads = model.encode_user(users).heads, model.encode_item(items).heads
    assert user_heads.shape == (3, model.config.layers + 1, 4, 32)
    pairs = model.pair_logits(user_heads, item_heads)
    one_vs_n = torch.stack([model.score_candidates(user_heads[b], item_heads[b:b + 1])[0]
                            for b in range(3)])
    torch.testing.assert_close(one_vs_n, pairs)


def test_interest_heads_need_a_history_and_maxsim_a_known_direction() -> None:
    with pytest.raises(ValueError, match="history"):
        IntTower(ModelConfig(user=TowerSpec(cat_vocab=(10,)), item=ITEM, interest_heads=True))
    with pytest.raises(ValueError, match="maxsim"):
        IntTower(ModelConfig(user=USER, item=ITEM, maxsim="both"))  # type: ignore[arg-type]


def test_a_bundle_config_from_before_the_options_loads_as_it_was_trained() -> None:
    saved = ModelConfig(user=USER, item=ITEM).to_dict()
    for field in ("share_history", "interest_heads", "maxsim"):
        saved.pop(field)
    loaded = ModelConfig.from_dict(saved)
    assert (loaded.share_history, loaded.interest_heads, loaded.maxsim) == (False, False, "user")
