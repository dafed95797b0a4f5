"""Service settings: one object, read from the environment (prefix INTTOWER_) or passed whole."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_ADMIN_TOKEN = 16  # characters: an empty or guessable token must not open /admin/reload


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INTTOWER_", frozen=True)

    artifacts: Path = Path("artifacts")  # the store that holds bundles/ and CURRENT
    device: str = Field("cpu", pattern=r"^(cpu|cuda(:\d+)?)$")
    # torch's intra-op threads (the torch backend: CUDA, the dot-product ablation). Requests run
    # side by side in --workers processes, not in threads, and a request is many small ops:
    # extra threads per op mostly add synchronisation (far slower with 2 than 1 on a busy 2-core
    # box, measured by hand).
    torch_threads: int = Field(1, ge=1)
    max_candidates: int = Field(10_000, ge=1)  # per /score request; more answers 413
    # With score_threads > 1, a request with at least 2x slice_min_candidates candidates is
    # scored in slices on up to that many threads (service.slices). Off by default: on the 2-core
    # benchmark machine it was slower and used more CPU (measured by hand, README "Serving");
    # worth measuring where cores are not shared.
    score_threads: int = Field(1, ge=1)
    slice_min_candidates: int = Field(2_500, ge=1)
    # Latency budget of a /score request that names none (budget_ms): None scores every
    # candidate; else only the first ones, in request order, that fit in this many ms.
    score_budget_ms: float | None = Field(None, gt=0)
    max_body_bytes: int = Field(1 << 20, ge=1024)  # larger request bodies answer 413
    recommend_depth: int = Field(256, ge=1)  # faiss hits per user head vector for /recommend
    # Known users' heads are precomputed at load when they fit in this many MB (per worker), so
    # their requests skip the user tower; 0 always runs it. (1.5 KB per user by default.)
    user_heads_cache_mb: int = Field(256, ge=0)
    reload_interval_s: float = Field(2.0, gt=0)  # how often the watcher reads CURRENT
    # Rollouts (model.rollout, service.challenger): shadow jobs wait in a queue this long at
    # most (more are dropped); the guard rails stop a challenger after this many failed calls,
    # when the median of its recent calls is above this many ms, or at once when one call runs
    # past rollout_timeout_s (a hang; an ab request is then answered by the live bundle).
    shadow_queue_size: int = Field(64, ge=1)
    rollout_max_errors: int = Field(5, ge=1)
    rollout_max_latency_ms: float = Field(100.0, gt=0)
    rollout_timeout_s: float = Field(2.0, gt=0)
    # Connection guards (service.protocol), per worker: a request's line and headers beyond
    # this answer 431; a request not received whole this long after its first byte closes the
    # connection; connections beyond this answer 503 at once (descriptors stay for the watcher).
    max_header_bytes: int = Field(32 * 1024, ge=1024)
    read_timeout_s: float = Field(20.0, gt=0)
    max_connections: int = Field(1000, ge=1)
    # On SIGTERM: requests received finish (answered) for up to this long, then the rest are cut.
    drain_timeout_s: int = Field(30, ge=1)
    admin_token: SecretStr | None = None  # enables POST /admin/reload (header X-Admin-Token)

    @field_validator("admin_token")
    @classmethod
    def _long_enough(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and len(token.get_secret_value()) < MIN_ADMIN_TOKEN:
            raise ValueError(f"INTTOWER_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN} characters "
                             "(unset it to turn /admin/reload off)")
        return token
