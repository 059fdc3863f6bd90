"""A Node client (@grpc/grpc-js + @grpc/proto-loader, protos loaded at run time)
talks to the real server: tests/node/smoke.mjs does the calls and prints JSON."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from ticketing.v1 import ticket_pb2, ticketing_pb2

from ticketing_grpc.server import Server

from .conftest import Client

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "node" / "smoke.mjs"
TIMEOUT = 20.0


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("SKIPPED: `node` is not on PATH; the Node grpc-js client test did not run")
    for package in ("@grpc/grpc-js", "@grpc/proto-loader"):
        if not (ROOT / "node_modules" / package / "package.json").is_file():
            pytest.skip(
                f"SKIPPED: node_modules/{package} is missing (run `npm install`); "
                "the Node grpc-js client test did not run"
            )
    return node


async def _run(*argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"{argv} did not finish within {TIMEOUT} s")
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_node_grpc_js_client(server: Server, mock_client: Client) -> None:
    node = _node()
    code, out, err = await _run(
        node, str(SCRIPT), f"127.0.0.1:{server.grpc_port}", mock_client.token
    )
    assert code == 0, f"smoke.mjs exited {code}\nstdout:\n{out}\nstderr:\n{err}"
    seen: dict[str, Any] = json.loads(out)

    created, got = seen["created"], seen["got"]
    assert created["id"].startswith("OPS-")
    assert created["summary"] == seen["summary"]
    assert created["priority"] == "HIGH"
    assert got == created
    assert seen["decoy"]["id"] != created["id"]

    # The like filter returns the created ticket and not the decoy.
    assert [t["id"] for t in seen["streamed"]] == [created["id"]]
    assert seen["streamed"][0]["priority"] == "HIGH"
    assert seen["streamed"][0]["has_resume_token"]

    assert seen["unauthenticated"]["code"] == 16, seen["unauthenticated"]

    # What Node created is really in this server, as Python sees it.
    ticket = await mock_client.ticketing.GetTicket(
        ticketing_pb2.GetTicketRequest(ticket_id=created["id"]), metadata=mock_client.metadata
    )
    assert ticket.summary == seen["summary"]
    assert ticket.priority == ticket_pb2.HIGH
