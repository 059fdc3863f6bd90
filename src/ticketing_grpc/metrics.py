"""A few process metrics in the Prometheus text format, for `GET /metrics`.

Counters and gauges with labels, kept in memory; no client library needed
for this little. Names follow Prometheus conventions (`_total` counters).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels) + "}"


@dataclass
class Counter:
    name: str
    help: str
    values: dict[Labels, float] = field(default_factory=lambda: defaultdict(float))

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        self.values[tuple(sorted(labels.items()))] += amount

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        for labels, value in sorted(self.values.items()):
            yield f"{self.name}{_labels(labels)} {value:g}"


@dataclass
class Gauge:
    """A value read when metrics are scraped."""

    name: str
    help: str
    read: Callable[[], float]

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} gauge"
        yield f"{self.name} {self.read():g}"


@dataclass
class Metrics:
    rpcs: Counter = field(
        default_factory=lambda: Counter(
            "ticketing_grpc_requests_total", "gRPC calls by method and status code."
        )
    )
    webhooks: Counter = field(
        default_factory=lambda: Counter(
            "ticketing_webhooks_received_total", "Inbound webhook requests by HTTP status."
        )
    )
    events: Counter = field(
        default_factory=lambda: Counter(
            "ticketing_events_total", "Events appended to the log, by event type."
        )
    )
    gauges: list[Gauge] = field(default_factory=list)

    def gauge(self, name: str, help: str, read: Callable[[], float]) -> None:
        self.gauges.append(Gauge(name, help, read))

    def render(self) -> str:
        lines: list[str] = []
        metrics: list[Counter | Gauge] = [self.rpcs, self.webhooks, self.events, *self.gauges]
        for metric in metrics:
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"
