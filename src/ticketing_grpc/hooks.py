"""The aiohttp sidecar: inbound provider webhooks, health and metrics.

`POST /v1/hooks` authenticates with the integration's access token (the
`TOKEN` header, or a `token` query parameter for senders that cannot set
headers, such as Jira's admin webhooks), lets the provider's normaliser turn
the body into typed events, and hands them to the event hub, which logs them
before anything else happens. A refused request records nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from aiohttp import web

from .errors import Unauthenticated
from .events.hub import EventHub
from .events.normalizers import WebhookRejected, normalizer_for
from .events.sink import NewEvent
from .integrations import Integrations
from .metrics import Metrics

log = logging.getLogger(__name__)

MAX_BODY = 10 * 1024 * 1024
HealthProbe = Callable[[], bool]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def build_app(
    serving: HealthProbe,
    integrations: Integrations | None = None,
    hub: EventHub | None = None,
    metrics: Metrics | None = None,
) -> web.Application:
    metrics = metrics or Metrics()

    async def healthz(request: web.Request) -> web.Response:
        ok = serving()
        return web.json_response(
            {"status": "SERVING" if ok else "NOT_SERVING"}, status=200 if ok else 503
        )

    async def receive(request: web.Request) -> web.Response:
        assert integrations is not None and hub is not None
        token = request.headers.get("TOKEN") or request.query.get("token")
        if not token:
            return _error(401, "missing TOKEN header")
        try:
            handle = await integrations.authenticate(token)
        except Unauthenticated:
            return _error(401, "the access token is not valid")
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _error(413, f"body over {MAX_BODY} bytes")
        body = await request.read()
        try:
            parsed = json.loads(body)
        except ValueError:
            return _error(400, "body is not JSON")
        normalize = normalizer_for(handle.integration)
        if normalize is None:
            log.warning("webhook for %s ignored: no mapping for that provider", handle.provider_id)
            return web.json_response({"accepted": 0, "ignored": True}, status=202)
        try:
            events = normalize(
                request.headers, body, parsed, handle.integration.inbound_webhook_secret
            )
        except WebhookRejected as rejected:
            return _error(rejected.status, str(rejected))
        stored = 0
        for i, item in enumerate(events):
            dedup = item.dedup_key if i == 0 or item.dedup_key is None else f"{item.dedup_key}#{i}"
            record = await hub.emit(
                NewEvent(
                    integration_id=handle.id,
                    event_type=item.event_type,
                    ticket_id=item.ticket_id,
                    entity_date=item.entity_date,
                    priority=item.priority,
                    short_description=item.short_description,
                    raw_payload=body,
                ),
                handle.integration,
                dedup_key=dedup,
            )
            stored += record is not None
        return web.json_response(
            {"accepted": stored, "ignored": not events, "duplicates": len(events) - stored},
            status=202,
        )

    async def counted(request: web.Request) -> web.StreamResponse:
        try:
            response = await receive(request)
        except web.HTTPException as error:
            metrics.webhooks.inc(status=str(error.status))
            raise
        metrics.webhooks.inc(status=str(response.status))
        return response

    async def scrape(request: web.Request) -> web.Response:
        return web.Response(text=metrics.render(), content_type="text/plain", charset="utf-8")

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", scrape)
    if integrations is not None and hub is not None:
        app.router.add_post("/v1/hooks", counted)
    return app
