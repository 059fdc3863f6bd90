"""Process settings: TICKETING_* environment variables, overridable by flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    grpc_addr: str = "127.0.0.1:50051"
    http_addr: str = "127.0.0.1:8080"
    data_dir: Path = Path("data")
    admin_token: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    allow_private_targets: bool = False
    shutdown_grace: float = 10.0
    log_level: str = "INFO"
    event_retention: float = 7 * 86400.0
    """Seconds events stay in the log (for SubscribeEvents replay)."""
    subscriber_queue: int = 1000
    """Live events a subscriber may fall behind before its stream is ended."""
    delivery_timeout: float = 15.0
    delivery_backoff_cap: float = 300.0
    delivery_give_up: float = 86400.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read the environment, then apply non-None overrides (from flags)."""
        env = os.environ if env is None else env
        settings = cls(
            grpc_addr=env.get("TICKETING_GRPC_ADDR", cls.grpc_addr),
            http_addr=env.get("TICKETING_HTTP_ADDR", cls.http_addr),
            data_dir=Path(env.get("TICKETING_DATA_DIR", str(cls.data_dir))),
            admin_token=env.get("TICKETING_ADMIN_TOKEN") or None,
            secret_key=env.get("TICKETING_SECRET_KEY") or None,
            allow_private_targets=(
                env.get("TICKETING_ALLOW_PRIVATE_WEBHOOK_TARGETS", "").strip().lower() in _TRUE
            ),
            shutdown_grace=_float(env, "TICKETING_SHUTDOWN_GRACE", cls.shutdown_grace),
            log_level=env.get("TICKETING_LOG_LEVEL", cls.log_level).upper(),
            event_retention=_float(env, "TICKETING_EVENT_RETENTION", cls.event_retention),
            subscriber_queue=int(_float(env, "TICKETING_SUBSCRIBER_QUEUE", cls.subscriber_queue)),
            delivery_timeout=_float(env, "TICKETING_DELIVERY_TIMEOUT", cls.delivery_timeout),
            delivery_backoff_cap=_float(
                env, "TICKETING_DELIVERY_BACKOFF_CAP", cls.delivery_backoff_cap
            ),
            delivery_give_up=_float(env, "TICKETING_DELIVERY_GIVE_UP", cls.delivery_give_up),
        )
        known = {f.name for f in fields(cls)}
        given = {k: v for k, v in overrides.items() if v is not None and k in known}
        return replace(settings, **given)


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise SystemExit(f"{name} must be positive, got {raw!r}")
    return value
