"""The aiohttp sidecar: health for probes that cannot speak gRPC."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

HealthProbe = Callable[[], bool]


def build_app(serving: HealthProbe) -> web.Application:
    async def healthz(request: web.Request) -> web.Response:
        ok = serving()
        return web.json_response(
            {"status": "SERVING" if ok else "NOT_SERVING"}, status=200 if ok else 503
        )

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    return app
