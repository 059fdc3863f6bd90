"""What each provider config of the contract requires, and its validation.

This is contract-level knowledge, kept apart from the plugins so that an
integration can be created for any provider of the contract, including one
whose plugin this build does not have yet.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from ticketing.v1 import events_pb2, integrations_pb2

from .errors import InvalidArgument
from .netguard import check_url


@dataclass(frozen=True)
class ConfigRule:
    provider_id: str
    display_name: str
    credential_kinds: frozenset[str] = frozenset()
    """Allowed Credential kinds; empty means the provider takes no credential."""
    default_url: str = ""
    needs_url: bool = True


CONFIGS: dict[str, ConfigRule] = {
    "mock": ConfigRule("ticketing_mock_ticketing", "Mock ticketing (embedded)", needs_url=False),
    "jira": ConfigRule("ticketing_jira", "Atlassian Jira", frozenset({"basic", "token"})),
    "servicenow": ConfigRule(
        "ticketing_servicenow", "ServiceNow ITSM", frozenset({"basic", "oauth_client"})
    ),
    "servicenow_sir": ConfigRule(
        "ticketing_servicenow_sir",
        "ServiceNow Security Incident Response",
        frozenset({"basic", "oauth_client"}),
    ),
    "pagerduty": ConfigRule(
        "ticketing_pagerduty",
        "PagerDuty",
        frozenset({"token"}),
        default_url="https://api.pagerduty.com",
    ),
    "zendesk": ConfigRule("ticketing_zendesk", "Zendesk", frozenset({"basic", "token"})),
    "freshdesk": ConfigRule("ticketing_freshdesk", "Freshdesk", frozenset({"basic", "token"})),
    "autotask": ConfigRule("ticketing_autotask", "Autotask", frozenset({"autotask"})),
    "torq": ConfigRule("ticketing_torq", "Torq", frozenset({"oauth_client"})),
}

PROVIDER_CONFIG = {rule.provider_id: name for name, rule in CONFIGS.items()}
"""Provider id -> name of its config field in Integration."""

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CREDENTIAL_FIELDS = {
    "basic": ("username", "secret"),
    "token": ("secret",),
    "oauth_client": ("client_id", "client_secret"),
    "autotask": ("api_integration_code", "username", "secret"),
}


def config_of(integration: integrations_pb2.Integration) -> tuple[str, Any]:
    """The set config field's name and message; INVALID_ARGUMENT when none is set."""
    name = integration.WhichOneof("config")
    if name is None:
        raise InvalidArgument(
            "integration has no provider config: set exactly one of " + ", ".join(CONFIGS)
        )
    return name, getattr(integration, name)


def validate(integration: integrations_pb2.Integration, *, allow_private: bool) -> ConfigRule:
    """Check a whole integration; raise InvalidArgument naming the first problem."""
    name, config = config_of(integration)
    rule = CONFIGS[name]
    _validate_config(name, rule, config, allow_private)
    _validate_mappings(integration.custom_field_mappings)
    for i, hook in enumerate(integration.webhooks):
        _validate_webhook(f"webhooks[{i}]", hook, allow_private)
    return rule


def _validate_config(name: str, rule: ConfigRule, config: Any, allow_private: bool) -> None:
    fields = config.DESCRIPTOR.fields_by_name
    if "url" in fields:
        if config.url:
            check_url(config.url, what=f"{name}.url", allow_private=allow_private)
        elif rule.needs_url and not rule.default_url:
            raise InvalidArgument(f"{name}.url is required")
    if "credential" not in fields:
        return
    kind = config.credential.WhichOneof("credential") if config.HasField("credential") else None
    if kind is None:
        raise InvalidArgument(
            f"{name}.credential is required: one of {', '.join(sorted(rule.credential_kinds))}"
        )
    if kind not in rule.credential_kinds:
        raise InvalidArgument(
            f"{name}.credential.{kind} is not accepted; use one of "
            + ", ".join(sorted(rule.credential_kinds))
        )
    credential = getattr(config.credential, kind)
    for field in _CREDENTIAL_FIELDS[kind]:
        if not getattr(credential, field):
            raise InvalidArgument(f"{name}.credential.{kind}.{field} is required")
    if kind == "oauth_client" and credential.token_url:
        check_url(
            credential.token_url,
            what=f"{name}.credential.oauth_client.token_url",
            allow_private=allow_private,
        )


def _validate_mappings(mappings: Any) -> None:
    seen: set[tuple[str, str]] = set()
    for i, m in enumerate(mappings):
        where = f"custom_field_mappings[{i}]"
        if not m.project_id.strip():
            raise InvalidArgument(f"{where}.project_id is required ('*' means every project)")
        if not _NAME.match(m.name):
            raise InvalidArgument(
                f"{where}.name {m.name!r} must be letters, digits and underscores, "
                "not starting with a digit"
            )
        if m.provider_field_path != m.provider_field_path.strip():
            raise InvalidArgument(f"{where}.provider_field_path has surrounding spaces")
        key = (m.project_id, m.name)
        if key in seen:
            raise InvalidArgument(
                f"{where} maps {m.name!r} for project {m.project_id!r} a second time"
            )
        seen.add(key)


def _validate_webhook(
    where: str, hook: integrations_pb2.WebhookTarget, allow_private: bool
) -> None:
    check_url(hook.webhook_url, what=f"{where}.webhook_url", allow_private=allow_private)
    for event_type in hook.event_filter:
        if event_type == events_pb2.EVENT_TYPE_UNSPECIFIED or event_type not in (
            events_pb2.EventType.values()
        ):
            raise InvalidArgument(f"{where}.event_filter holds an invalid event type")
    if hook.signing_secret:
        validate_signing_secret(f"{where}.signing_secret", hook.signing_secret)


def validate_signing_secret(where: str, secret: str) -> bytes:
    """Standard Webhooks secrets are `whsec_` + base64 of 24 to 64 random bytes."""
    if not secret.startswith("whsec_"):
        raise InvalidArgument(f"{where} must start with 'whsec_' (Standard Webhooks format)")
    try:
        key = base64.b64decode(secret[len("whsec_") :], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument(f"{where} is not 'whsec_' followed by base64") from None
    if not 24 <= len(key) <= 64:
        raise InvalidArgument(f"{where} must encode 24 to 64 bytes, not {len(key)}")
    return key
