"""Every scoring path run once when a bundle loads, so the first requests do not pay for lazy
set-up (numba, faiss, torch) and a bundle that loads but cannot score is refused before it goes
live (service.reloader)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from service.body_ids import body_ids

if TYPE_CHECKING:
    from service.scorer import Scorer

_WARM_UP_USER = "\x00warm-up"  # an id no bundle holds: warms the unknown-user path
_WARM_UP_CANDIDATES = 1_000


def warm(scorer: Scorer) -> None:
    """Score with `scorer` as requests will: ids kept in a body (strings, JSON integers) and
    ids as strings, ranked, budgeted, a fresh history, and a whole-catalogue recommendation."""
    users, items = scorer.bundle.users.ids, scorer.bundle.items.ids
    candidates = items[: min(_WARM_UP_CANDIDATES, scorer.candidates.max_candidates)].tolist()
    user = str(users[0]) if len(users) else _WARM_UP_USER
    in_body = body_ids(orjson.dumps(candidates)) or candidates  # None for an odd id: strings
    scorer.score(user, in_body, top_k=10)
    scorer.score(user, candidates, budget_s=1.0)
    scorer.score(_WARM_UP_USER, body_ids(b"[0, 1]"))  # type: ignore[arg-type]
    history_field = scorer.user_heads.history_field
    if history_field is not None:  # a known user with a fresh history
        scorer.score(user, candidates[:1], user_features={history_field: candidates[:2]})
    scorer.recommend(user, k=10)
