"""The real process: `python -m ticketing_grpc serve`, its settings, its admin
token, health, and a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
import time
from pathlib import Path

import aiohttp
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ticketing.v1 import integrations_pb2, integrations_pb2_grpc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def launch(
    data_dir: Path, env_extra: dict[str, str]
) -> tuple[asyncio.subprocess.Process, int, int]:
    grpc_port, http_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETING_")}
    env |= {
        "TICKETING_GRPC_ADDR": f"127.0.0.1:{grpc_port}",
        "TICKETING_DATA_DIR": str(data_dir),
        **env_extra,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ticketing_grpc",
        "serve",
        "--http-addr",
        f"127.0.0.1:{http_port}",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    return process, grpc_port, http_port


async def read_until(process: asyncio.subprocess.Process, pattern: str) -> list[str]:
    lines: list[str] = []
    assert process.stdout is not None
    async with asyncio.timeout(20):
        while True:
            line = (await process.stdout.readline()).decode()
            assert line, "server exited early:\n" + "".join(lines)
            lines.append(line)
            if re.search(pattern, line):
                return lines


async def stop(process: asyncio.subprocess.Process) -> float:
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(20):
        await process.wait()
    return time.monotonic() - started


async def test_serve_generates_the_admin_token_once_and_stops_on_sigterm(tmp_path: Path) -> None:
    data = tmp_path / "data"
    process, grpc_port, http_port = await launch(data, {})
    try:
        lines = await read_until(process, "serving gRPC")
        token = next(
            line.strip() for i, line in enumerate(lines) if i and "admin token" in lines[i - 1]
        )
        assert (data / "admin.token").read_text().strip() == token
        assert (data / "admin.token").stat().st_mode & 0o077 == 0
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for service in ("", "ticketing.v1.TicketingService"):
                reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
            stub = integrations_pb2_grpc.IntegrationServiceStub(channel)
            listed = await stub.ListIntegrations(
                integrations_pb2.ListIntegrationsRequest(),
                metadata=(("authorization", f"Bearer {token}"),),
            )
            assert list(listed.integrations) == []
        url = f"http://127.0.0.1:{http_port}/healthz"
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            assert response.status == 200
            assert (await response.json())["status"] == "SERVING"
        assert await stop(process) < 20
        assert process.returncode == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    again, _, _ = await launch(data, {})
    try:
        lines = await read_until(again, "serving gRPC")
        assert not any("admin token" in line for line in lines)
        assert token not in "".join(lines)
    finally:
        await stop(again)


async def test_configured_admin_token_is_never_printed(tmp_path: Path) -> None:
    secret = "tga_configured-admin-token-abcdef0123456789"
    process, _, _ = await launch(tmp_path / "data", {"TICKETING_ADMIN_TOKEN": secret})
    try:
        lines = await read_until(process, "serving gRPC")
    finally:
        await stop(process)
    assert secret not in "".join(lines)
    assert not (tmp_path / "data" / "admin.token").exists()
