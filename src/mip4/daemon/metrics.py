"""Prometheus metrics of one daemon (``--metrics ADDRESS``), with prometheus_client.

- ``mip4_registration_messages_total{direction,message}``: requests and replies seen;
- ``mip4_registration_replies_total{direction,code}``: replies by code (RFC 5944 §3.4);
- ``mip4_handoffs_total{method,outcome}``: ``method`` is ``[daemon] method`` (a simulator
  method name); ``outcome`` at an MN is each registration attempt's end (``completed``,
  ``denied``, ``timeout``), at an FA each POST-REGISTRATION BET's agreement (RFC 4881
  §4.1: ``bet-agreed``, ``bet-refused``, ``bet-failed`` for a handoff request left
  unanswered, §8.2, once per request) and each PRE-REGISTRATION step it took (RFC 4881 §3:
  ``proxy-advertisement``, the oFA's PrRtAdv to an MN, once per MN and event whatever the
  copies; ``tunnelled-advertisement``, the nFA's advertisement through the oFA on L2-TT;
  ``low-latency-request``, the nFA relaying the MN's low-latency request);
- ``mip4_tunnels{kind}``: bindings, visitors, uplinks, forward tunnels now installed;
- ``mip4_drops_total{layer,reason}``: every agent and data-plane drop, by reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from mip4.core.actions import Action, Notify, SendPacket

_MN_OUTCOMES = {
    "registration-accepted": "completed",
    "registration-denied": "denied",
    "registration-timeout": "timeout",
}
_FA_OUTCOMES = {
    "bet-agreed": "bet-agreed",
    "bet-refused": "bet-refused",
    "pre-tunnelled-advertisement": "tunnelled-advertisement",
    "low-latency-request": "low-latency-request",
}
_PROXY_ADVERTISEMENT = "proxy_router_advertisement"

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

    def __init__(
        self, *, method: str, role: str, state: Callable[[], Mapping[str, object]]
    ) -> None:
        self.method = method
        self.role = role
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
            "Handoffs by method and outcome (MN registration attempts, FA BETs and "
            "PRE-REGISTRATION steps)",
            ["method", "outcome"],
            registry=self.registry,
        )
        self._unanswered: set[object] = set()  # MNs whose handoff request is counted failed
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

    def actions(self, actions: Iterable[Action]) -> None:
        """Count the handoff outcomes in what the agent did for one input."""
        proxied: set[object] = set()
        for action in actions:
            if isinstance(action, Notify):
                self.notify(action)
            elif (
                isinstance(action, SendPacket)
                and action.message == _PROXY_ADVERTISEMENT
                and action.destination not in proxied
            ):
                proxied.add(action.destination)  # RFC 4881 §8.1.1: copies count once
                self._handoff("proxy-advertisement")

    def notify(self, event: Notify) -> None:
        """Count one agent event that ends (or is a step of) a handoff."""
        name = event.event
        if self.role == "mn":
            outcome = _MN_OUTCOMES.get(name)
            if outcome is not None:
                self._handoff(outcome)
            return
        mn = event.fields.get("mn")
        if name == "handoff-requested":
            self._unanswered.discard(mn)  # a new request: its own outcome
        elif name == "handoff-unconfirmed":
            # §8.2: reported when the reply is overdue and again when the BET is given up
            if mn not in self._unanswered:
                self._unanswered.add(mn)
                self._handoff("bet-failed")
        else:
            outcome = _FA_OUTCOMES.get(name)
            if outcome is not None:
                self._handoff(outcome)

    def _handoff(self, outcome: str) -> None:
        self.handoffs.labels(self.method, outcome).inc()


__all__ = ["Metrics"]
