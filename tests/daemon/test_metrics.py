"""``--metrics``: the exposed Prometheus text, counted from what real core agents do.

The agents run on the in-test wire (``tests.core``); each agent's actions for one input are
fed to its daemon's :class:`~mip4.daemon.metrics.Metrics` as the runtime does, and the
registry is scraped as text (``prometheus_client.generate_latest``).
"""

from __future__ import annotations

import itertools

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mip4.core.actions import Notify, TunnelMode
from mip4.core.triggers import FaIdentifier, MnIdentifier, SourceTrigger, TargetTrigger
from mip4.daemon.metrics import Metrics
from tests.core import test_pre_registration as pre_tests
from tests.core.test_post_registration import (
    FA_FA_KEY,
    FA_FA_SPI,
    deferred_handoff,
    move,
    post,
    post_net,
    registered,
    source_trigger,
    target_trigger,
)
from tests.core.topology import (
    FA1_ADDR,
    FA2_ADDR,
    HOME,
    MN_MAC,
    Net,
    build,
    fa_config,
    mn_config,
    sa,
)


def _metrics(role: str, method: str) -> Metrics:
    state = {"tunnels": {"forward-tunnel": 1}, "agent": {"replayed": 2}, "dataplane": {}}
    return Metrics(method=method, role=role, state=lambda: state)


def _feed(metrics: Metrics, net: Net, name: str) -> None:
    """The agent's actions, one batch per (time, agent) as the runtime executes them."""
    rows = [(t, a) for t, n, a in net.wire.actions if n == name]
    for _time, batch in itertools.groupby(rows, key=lambda row: row[0]):
        metrics.actions([action for _t, action in batch])


def _samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _handoffs(metrics: Metrics) -> dict[tuple[str, str], float]:
    return {
        (dict(labels)["method"], dict(labels)["outcome"]): value
        for (name, labels), value in _samples(metrics).items()
        if name == "mip4_handoffs_total"
    }


def test_a_post_handoff_is_counted_at_both_fas_and_the_mn_registration_at_the_mn() -> None:
    net = post_net()
    deferred_handoff(net)
    net.wire.run(net.wire.now + 0.05)
    ofa, nfa = _metrics("fa", "post-source"), _metrics("fa", "post-source")
    mn = _metrics("mn", "post-source")
    _feed(ofa, net, "fa1")
    _feed(nfa, net, "fa2")
    _feed(mn, net, "mn")
    # the oFA reports the agreement of an HRqst(s) (RFC 4881 §4.1 step 3b); the nFA that
    # answered it reports none (the core notifies no event there)
    assert _handoffs(ofa) == {("post-source", "bet-agreed"): 1.0}
    assert _handoffs(nfa) == {}
    assert _handoffs(mn)[("post-source", "completed")] >= 1.0
    samples = _samples(ofa)
    assert samples[("mip4_tunnels", (("kind", "forward-tunnel"),))] == 1.0
    assert samples[("mip4_drops_total", (("layer", "agent"), ("reason", "replayed")))] == 2.0


def test_an_unanswered_handoff_request_is_one_failure() -> None:
    net = post_net()
    t0 = registered(net)
    net.wire.lose = lambda sender, send: send.message == "handoff_request_s"
    source_trigger(net)
    net.wire.run(t0 + 0.2)
    move(net)  # §8.2: overdue, then given up at L2-LD: two events, one failed handoff
    net.wire.run(net.wire.now + 0.05)
    unconfirmed = [
        a for _t, n, a in net.wire.actions
        if n == "fa1" and isinstance(a, Notify) and a.event == "handoff-unconfirmed"
    ]  # fmt: skip
    assert len(unconfirmed) == 2
    ofa = _metrics("fa", "post-source")
    _feed(ofa, net, "fa1")
    assert _handoffs(ofa) == {("post-source", "bet-failed"): 1.0}
    # a new request is a new handoff with its own outcome
    ofa.notify(Notify(event="handoff-requested", fields={"mn": str(HOME), "to": "x", "by": "s"}))
    ofa.notify(Notify(event="handoff-unconfirmed", fields={"mn": str(HOME), "peer": "x"}))
    assert _handoffs(ofa) == {("post-source", "bet-failed"): 2.0}


def test_a_refused_bet_is_counted() -> None:
    shared = sa(FA_FA_SPI, FA_FA_KEY)
    net = build(
        fa1=fa_config(
            1, post_registration=post(neighbours={FA2_ADDR: shared}, encapsulation=TunnelMode.GRE)
        ),
        fa2=fa_config(
            2,
            encapsulations=frozenset({TunnelMode.IP_IN_IP}),
            post_registration=post(neighbours={FA1_ADDR: shared}),
        ),
        mn=mn_config(deferred_registration=True),
    )
    t0 = registered(net)
    source_trigger(net)
    net.wire.run(t0 + 0.2)
    ofa = _metrics("fa", "post-target")
    _feed(ofa, net, "fa1")
    assert _handoffs(ofa) == {("post-target", "bet-refused"): 1.0}


def test_pre_proxy_advertisements_count_once_per_mn_whatever_the_copies() -> None:
    net = pre_tests.pre_net()
    pre_tests.registered(net)
    for _ in range(2):  # two L2-STs, each a PrRtAdv (in its configured copies)
        out = net.wire.trigger(
            "fa1",
            SourceTrigger(
                mn=MnIdentifier(link_address=MN_MAC, home_address=HOME),
                new_fa=FaIdentifier(address=FA2_ADDR),
            ),
        )
        net.wire.run(net.wire.now + 1.5)  # past the trigger rate limit
    assert any(getattr(a, "message", "") == "proxy_router_advertisement" for a in out)
    ofa = _metrics("fa", "pre-source")
    _feed(ofa, net, "fa1")
    assert _handoffs(ofa)[("pre-source", "proxy-advertisement")] == 2.0
    # L2-TT at the nFA: its advertisement through the oFA (RFC 4881 §3.2)
    net.wire.trigger(
        "fa2",
        TargetTrigger(
            mn=MnIdentifier(link_address=MN_MAC, home_address=HOME),
            old_fa=FaIdentifier(address=FA1_ADDR),
        ),
    )
    nfa = _metrics("fa", "pre-target")
    _feed(nfa, net, "fa2")
    assert _handoffs(nfa) == {("pre-target", "tunnelled-advertisement"): 1.0}
    # copies of one advertisement in one batch are one handoff step
    ofa = _metrics("fa", "pre-source")
    ofa.actions(out * 3)
    assert _handoffs(ofa) == {("pre-source", "proxy-advertisement"): 1.0}


def test_a_target_triggered_bet_is_agreed_at_both_ends() -> None:
    net = post_net()
    t0 = registered(net)

    target_trigger(net)
    net.wire.run(t0 + 0.2)
    for name in ("fa1", "fa2"):
        metrics = _metrics("fa", "post-target")
        _feed(metrics, net, name)
        assert _handoffs(metrics) == {("post-target", "bet-agreed"): 1.0}, name
