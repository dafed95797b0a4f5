"""The row-wise optimiser: a step touches only the embedding rows its batch looked up."""

from __future__ import annotations

import torch
from torch import nn

from training.optim import RowwiseAdam, set_sparse_gradients


class _Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.table = nn.Embedding(10, 4, padding_idx=0)
        self.head = nn.Linear(4, 1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.table(ids)).sum()


def _two_steps(sparse: bool) -> tuple[torch.Tensor, torch.Tensor, _Toy]:
    """Weights before and after a second step that does not look up row 5 (the first did)."""
    torch.manual_seed(0)
    model = _Toy()
    set_sparse_gradients(model, sparse)
    optimizer = RowwiseAdam(model, lr=0.1)
    for ids in (torch.tensor([5, 6]), torch.tensor([6, 7])):
        before = model.table.weight.detach().clone()
        optimizer.zero_grad()
        model(ids).backward()
        optimizer.step()
    return before, model.table.weight.detach(), model


def test_sparse_tables_update_only_the_rows_of_the_batch() -> None:
    before, after, model = _two_steps(sparse=True)
    assert model.table.weight.grad is None or model.table.weight.grad.is_sparse
    changed = (before != after).any(dim=1).nonzero().flatten().tolist()
    assert changed == [6, 7]  # row 5, looked up one step earlier, is left alone


def test_dense_adam_keeps_moving_rows_the_batch_did_not_touch() -> None:
    before, after, _ = _two_steps(sparse=False)
    changed = (before != after).any(dim=1).nonzero().flatten().tolist()
    assert changed == [5, 6, 7]  # momentum moves row 5 again: the cost of dense tables


def test_dense_parameters_stay_with_adam() -> None:
    model = _Toy()
    set_sparse_gradients(model, True)
    dense, sparse = RowwiseAdam(model, lr=0.1).optimizers
    assert isinstance(dense, torch.optim.Adam) and isinstance(sparse, torch.optim.SparseAdam)
    assert {id(p) for g in sparse.param_groups for p in g["params"]} == {id(model.table.weight)}
    assert len([p for g in dense.param_groups for p in g["params"]]) == 2  # head weight, bias
