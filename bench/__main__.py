"""Streaming cost against unary cost on the embedded default.

Starts a real server on free ports, fills a mock integration with tickets,
then compares the time per ticket of one QueryTickets stream with the time
of one GetTicket round trip. A ratio well below 1 means streaming amortises
the per-call overhead; the absolute numbers depend on the machine.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import grpc
from ticketing.v1 import (
    integrations_pb2,
    integrations_pb2_grpc,
    ticket_pb2,
    ticketing_pb2,
    ticketing_pb2_grpc,
)

from ticketing_grpc.config import Settings
from ticketing_grpc.server import start

TICKETS = 500
ROUND_TRIPS = 200
ADMIN = "tga_bench-admin-token-0123456789abcdef"


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            grpc_addr="127.0.0.1:0",
            http_addr="127.0.0.1:0",
            data_dir=Path(tmp),
            admin_token=ADMIN,
            log_level="WARNING",
        )
        server = await start(settings)
        try:
            await run(server.grpc_port)
        finally:
            await server.stop()


async def run(port: int) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        admin = integrations_pb2_grpc.IntegrationServiceStub(channel)
        created = await admin.CreateIntegration(
            integrations_pb2.CreateIntegrationRequest(
                integration=integrations_pb2.Integration(
                    mock=integrations_pb2.MockConfig(default_project="BENCH")
                )
            ),
            metadata=(("authorization", f"Bearer {ADMIN}"),),
        )
        md = (("authorization", f"Bearer {created.access_token}"),)
        stub = ticketing_pb2_grpc.TicketingServiceStub(channel)
        started = time.perf_counter()
        for i in range(TICKETS):
            await stub.CreateTicket(
                ticketing_pb2.CreateTicketRequest(ticket=ticket_pb2.Ticket(summary=f"t{i}")),
                metadata=md,
            )
        create_each = (time.perf_counter() - started) / TICKETS

        gets = []
        for _ in range(ROUND_TRIPS):
            t0 = time.perf_counter()
            await stub.GetTicket(ticketing_pb2.GetTicketRequest(ticket_id="BENCH-1"), metadata=md)
            gets.append(time.perf_counter() - t0)
        get_each = statistics.median(gets)

        t0 = time.perf_counter()
        count = 0
        async for _ in stub.QueryTickets(ticketing_pb2.QueryTicketsRequest(), metadata=md):
            count += 1
        stream_each = (time.perf_counter() - t0) / count

    print(f"tickets: {count}")
    print(f"CreateTicket per call:          {create_each * 1e3:8.3f} ms")
    print(f"GetTicket per call (median):    {get_each * 1e3:8.3f} ms")
    print(f"QueryTickets per streamed item: {stream_each * 1e3:8.3f} ms")
    print(f"ratio streamed item / GetTicket: {stream_each / get_each:.2f}")
    print(f"ratio CreateTicket / GetTicket:  {create_each / get_each:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
