"""Response bodies of the HTTP API other than the scoring routes' (service.schemas): the bundles
held (/model), the probes, the admin reload and errors."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class BundleSummary(BaseModel):
    """A bundle held in memory: a summary of its manifest."""

    version: str
    parent: str | None
    created_at: str
    age_seconds: float
    loaded_at: str
    # The live bundle: False once its folder is gone from the store: still served from memory,
    # but a restarted process could not load it.
    on_disk: bool | None = None
    dataset: str | None
    num_users: int
    num_items: int
    memory_bytes: int = Field(ge=0, description="Bytes the bundle holds in memory for serving, "
                              "from its arrays' sizes (service/memory.py says what it counts).")
    config: dict[str, Any]  # the architecture (ModelConfig)
    item_index: dict[str, Any]
    user_history: dict[str, Any] | None  # field, max_len, vocabulary of the user history
    # field, max_len, vocab_size of each event sequence (lists of raw tokens in user_features)
    user_sequences: list[dict[str, Any]]
    metrics: dict[str, Any]


class ChallengerResponse(BundleSummary):
    """The challenger of a rollout in progress (model.rollout), as this process holds it."""

    mode: str  # shadow or ab
    share: float  # of the requests (shadow) or of the users (ab)
    salt: str  # ab: the users' hash salt
    started_at: str


class ModelResponse(BundleSummary):
    """GET /model: the live bundle, and the challenger if this process holds one."""

    challenger: ChallengerResponse | None = None


class ReloadResponse(BaseModel):
    model_version: str | None
    previous_version: str | None
    reloaded: bool


class StatusResponse(BaseModel):
    status: str
    model_version: str | None = None


class ErrorResponse(BaseModel):
    detail: str
    errors: list[dict[str, Any]] | None = None  # one per invalid field, for 422s
