"""Secrets in Integration messages: redact them for responses, and keep the
stored value when a client sends the redacted placeholder back."""

from __future__ import annotations

from google.protobuf.message import Message
from ticketing.v1 import integrations_pb2

from .errors import InvalidArgument

REDACTED = "REDACTED"

SECRET_FIELDS = frozenset(
    {
        "ticketing.v1.BasicCredential.secret",
        "ticketing.v1.TokenCredential.secret",
        "ticketing.v1.OAuthClientCredential.client_secret",
        "ticketing.v1.AutotaskCredential.secret",
        "ticketing.v1.WebhookTarget.signing_secret",
        "ticketing.v1.Integration.inbound_webhook_secret",
    }
)


def _walk(message: Message, replace: bool) -> list[str]:
    """Replace (or just collect) every non-empty secret in `message`, in place."""
    found: list[str] = []
    for field, value in message.ListFields():
        if field.full_name in SECRET_FIELDS:
            found.append(value)
            if replace:
                setattr(message, field.name, REDACTED)
        elif field.message_type is not None:
            for child in value if field.is_repeated else [value]:
                if isinstance(child, Message):
                    found.extend(_walk(child, replace))
    return found


def redacted(integration: integrations_pb2.Integration) -> integrations_pb2.Integration:
    copy = integrations_pb2.Integration()
    copy.CopyFrom(integration)
    _walk(copy, replace=True)
    return copy


def secrets_of(integration: integrations_pb2.Integration) -> list[str]:
    """Every secret value in the integration (for scrubbing text before it is shown)."""
    return _walk(integration, replace=False)


def restore_secrets(new: integrations_pb2.Integration, old: integrations_pb2.Integration) -> None:
    """Put the stored secret back wherever `new` holds the placeholder.

    Credentials are matched by position (same config and kind), webhook
    targets by URL. A credential placeholder with no stored counterpart is
    cleared (validation then asks for the secret); a webhook placeholder with
    none is refused, so a target never silently loses its signing.
    """
    if new.inbound_webhook_secret == REDACTED:
        new.inbound_webhook_secret = old.inbound_webhook_secret
    old_hooks = {h.webhook_url: h.signing_secret for h in old.webhooks}
    for hook in new.webhooks:
        if hook.signing_secret == REDACTED:
            if not old_hooks.get(hook.webhook_url):
                raise InvalidArgument(
                    f"webhook {hook.webhook_url!r} has the placeholder {REDACTED!r} as its "
                    "signing_secret but no stored secret to keep; send the secret itself"
                )
            hook.signing_secret = old_hooks[hook.webhook_url]
    name = new.WhichOneof("config")
    if name is None or "credential" not in getattr(new, name).DESCRIPTOR.fields_by_name:
        return
    new_cred = getattr(new, name).credential
    kind = new_cred.WhichOneof("credential")
    if kind is None:
        return
    old_cred = None
    if old.WhichOneof("config") == name:
        candidate = getattr(old, name).credential
        if candidate.WhichOneof("credential") == kind:
            old_cred = getattr(candidate, kind)
    target = getattr(new_cred, kind)
    for field, value in target.ListFields():
        if field.full_name in SECRET_FIELDS and value == REDACTED:
            setattr(target, field.name, getattr(old_cred, field.name) if old_cred else "")
