"""A user's heads, one of two ways (`Scores.user_path`): "cached", the heads of a bundle user
precomputed at load from its stored row, when the request sends no `user_features` and they fit
the memory budget; or "online", the user tower run on the stored row (or the default row of an
unknown user) with the request's fresh features applied (service.user_features).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from model.bundle import Bundle
from service.backends import Backend
from service.user_features import FeatureValue, UserFeatureEncoder

_PRECOMPUTE_BATCH = 4_096  # users per user-tower call when precomputing known users' heads


class UserHeads:
    """The heads of `bundle`'s users and of strangers, by `backend`. `item_tokens`: raw item ids
    -> the item tower's id tokens (a fresh history's); `cache_mb`: the precomputed heads' budget."""

    def __init__(self, bundle: Bundle, backend: Backend,
                 item_tokens: Callable[[Sequence[str]], np.ndarray], cache_mb: int) -> None:
        self._row = {user: row for row, user in enumerate(bundle.users.ids)}
        self._backend = backend
        self._features = UserFeatureEncoder(bundle.user_codec, bundle.users, item_tokens)
        self.history_field = self._features.history_field  # None when the model reads none
        self.feature_schema = self._features.json_schema  # field -> JSON Schema of its values
        self.precomputed = _precomputed_heads(bundle, backend, cache_mb)

    @property
    def nbytes(self) -> int:
        """Bytes of the precomputed heads (0 without them)."""
        return 0 if self.precomputed is None else self.precomputed.nbytes

    def of(self, user_id: str, features: Mapping[str, FeatureValue] | None
           ) -> tuple[np.ndarray, bool, str]:
        """(L, Hu, d) heads of the user with `features` applied; is the user known; the path."""
        row = self._row.get(user_id)
        if row is not None and not features and self.precomputed is not None:
            return self.precomputed[row], True, "cached"
        users = self._features.encode(user_id, row, features or {})
        return self._backend.user_heads(users)[0], row is not None, "online"


def _precomputed_heads(bundle: Bundle, backend: Backend, budget_mb: int) -> np.ndarray | None:
    """(U, L, Hu, d) heads of every bundle user if they fit in `budget_mb`, else None.

    A stored row is a function of the bundle alone, like the item vectors, so its heads are
    computed once here, by the same backend as per request.
    """
    c, users = bundle.config, bundle.users
    shape = (len(users), c.user_layers, c.user_heads, c.head_dim)
    if np.prod(shape) * 4 > budget_mb * 2**20:
        return None
    heads = np.empty(shape, np.float32)
    for start in range(0, len(users), _PRECOMPUTE_BATCH):
        rows = np.arange(start, min(start + _PRECOMPUTE_BATCH, len(users)))
        heads[rows] = backend.user_heads(users.take(rows))
    return heads
