"""Prometheus metrics of one daemon (``--metrics ADDRESS``), with prometheus_client.

- ``mip4_registration_messages_total{direction,message}``: requests and replies seen;
- ``mip4_registration_replies_total{direction,code}``: replies by code (RFC 5944 §3.4);
- ``mip4_handoffs_total{method,outcome}``: at an MN, each registration attempt's end;
- ``mip4_tunnels{kind}``: bindings, visitors, uplinks, forward tunnels now installed;
- ``mip4_drops_total{layer,reason}``: every agent and data-plane drop, by reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from mip4.core.actions import Notify

_MESSAGES = {
    1: "registration-request",
    3: "registration-reply",
    4: "regional-request",
    5: "regional-reply",
}


class _StateCollector(Collector):
    def __init__(self, state: Callable[[], Mapping[str, object]]) -> None:
        self._state = state

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        state = self._state()
        tunnels = GaugeMetricFamily("mip4_tunnels", "Tunnel state installed", labels=["kind"])
        for kind, count in dict(state.get("tunnels", {})).items():  # type: ignore[call-overload]
            tunnels.add_metric([kind], count)
        yield tunnels
        drops = CounterMetricFamily("mip4_drops", "Drops by reason", labels=["layer", "reason"])
        for layer in ("agent", "dataplane", "daemon"):
            for reason, count in dict(state.get(layer, {})).items():  # type: ignore[call-overload]
                drops.add_metric([layer, reason], count)
        yield drops


class Metrics:
    """The daemon's counters; ``serve`` starts the HTTP exporter."""

    def __init__(self, *, method: str, state: Callable[[], Mapping[str, object]]) -> None:
        self.method = method
        self.registry = CollectorRegistry()
        self.messages = Counter(
            "mip4_registration_messages",
            "Registration messages by direction and type",
            ["direction", "message"],
            registry=self.registry,
        )
        self.replies = Counter(
            "mip4_registration_replies",
            "Registration replies by direction and code",
            ["direction", "code"],
            registry=self.registry,
        )
        self.handoffs = Counter(
            "mip4_handoffs",
            "Registration attempts of a mobile node by method and outcome",
            ["method", "outcome"],
            registry=self.registry,
        )
        self.registry.register(_StateCollector(state))

    def serve(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        start_http_server(int(port), addr=host or "127.0.0.1", registry=self.registry)

    def control_message(self, direction: str, payload: bytes) -> None:
        if not payload:
            return
        name = _MESSAGES.get(payload[0])
        if name is None:
            return
        self.messages.labels(direction, name).inc()
        if payload[0] in (3, 5) and len(payload) > 1:
            self.replies.labels(direction, str(payload[1])).inc()

    def notify(self, event: Notify) -> None:
        outcome = {
            "registration-accepted": "completed",
            "registration-denied": "denied",
            "registration-timeout": "timeout",
        }.get(event.event)
        if outcome is not None:
            self.handoffs.labels(self.method, outcome).inc()


__all__ = ["Metrics"]
