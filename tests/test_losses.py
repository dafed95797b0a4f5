"""CIR (in-batch InfoNCE) against a direct per-anchor computation; masking of same-item rows."""

import math

import torch
import torch.nn.functional as F

from model.losses import LossConfig, cir_loss, total_loss


def _reference_cir(user, item, key, label, tau):
    u = F.normalize(user.flatten(1), dim=-1)
    v = F.normalize(item.flatten(1), dim=-1)
    losses = []
    for a in range(len(label)):
        if label[a] < 0.5:
            continue
        # denominator: own column plus every column holding a DIFFERENT item
        cols = [j for j in range(len(label)) if j == a or key[j] != key[a]]
        logits = torch.stack([u[a] @ v[j] / tau for j in cols])
        losses.append(-(logits[cols.index(a)] - torch.logsumexp(logits, 0)))
    return torch.stack(losses).mean()


def test_cir_matches_a_per_anchor_reference_with_repeated_items() -> None:
    gen = torch.Generator().manual_seed(0)
    user = torch.randn(8, 4, 16, generator=gen)
    item = torch.randn(8, 4, 16, generator=gen)
    key = torch.tensor([0, 1, 2, 1, 3, 0, 4, 5])  # items 0 and 1 appear twice
    label = torch.tensor([1, 1, 0, 1, 0, 0, 1, 1], dtype=torch.float32)
    got = cir_loss(user, item, key, label, temperature=0.07)
    torch.testing.assert_close(got, _reference_cir(user, item, key, label, 0.07))


def test_same_item_rows_do_not_act_as_negatives() -> None:
    # Two rows of the SAME item with identical vectors: without masking, the loss would be log 2.
    user = torch.ones(2, 1, 4)
    item = torch.ones(2, 1, 4)
    key = torch.tensor([7, 7])
    label = torch.ones(2)
    assert float(cir_loss(user, item, key, label, 1.0)) < 1e-6
    assert math.isclose(float(cir_loss(user, item, torch.tensor([7, 8]), label, 1.0)),
                        math.log(2), rel_tol=1e-5)


def test_cir_is_zero_without_positives_and_total_loss_weights_its_parts() -> None:
    user, item = torch.randn(4, 2, 3), torch.randn(4, 2, 3)
    key, label = torch.arange(4), torch.zeros(4)
    assert float(cir_loss(user, item, key, label, 0.07)) == 0.0
    logit, sq = torch.randn(4), torch.rand(4)
    label = torch.tensor([1.0, 0.0, 1.0, 0.0])
    config = LossConfig(embed_l2=0.5, cir_weight=0.25, cir_temperature=0.1)
    loss, parts = total_loss(logit, label, sq, user, item, key, config)
    expected = (F.binary_cross_entropy_with_logits(logit, label) + 0.5 * sq.mean()
                + 0.25 * cir_loss(user, item, key, label, 0.1))
    torch.testing.assert_close(loss, expected)
    assert set(parts) == {"bce", "cir"}
