"""The driver-facing contract shared by every agent (design.md, "The core contract")."""

from __future__ import annotations

import json
import random
from ipaddress import IPv4Address
from typing import Any

import pytest

from mip4.core.actions import Dropped, DropReason
from mip4.core.config import ForeignAgentConfig, HomeAgentConfig, MobileNodeConfig
from mip4.core.foreign_agent import ForeignAgent
from mip4.core.gateway_foreign_agent import GatewayForeignAgent
from mip4.core.home_agent import HomeAgent
from mip4.core.mobile_node import MobileNode
from mip4.core.packets import ReceivedPacket
from mip4.core.triggers import (
    FaIdentifier,
    LinkDown,
    LinkUp,
    MnIdentifier,
    MobileTrigger,
    SourceTrigger,
    TargetTrigger,
)
from mip4.errors import LocalUsageError
from tests.core.topology import (
    FA2_ADDR,
    HOME,
    MN_MAC,
    build,
    fa_config,
    gfa_config,
    ha_config,
    mn_config,
    sa,
)

ST = SourceTrigger(mn=MnIdentifier(link_address=MN_MAC), new_fa=FaIdentifier(address=FA2_ADDR))
TT = TargetTrigger(mn=MnIdentifier(link_address=MN_MAC), old_fa=FaIdentifier(address=FA2_ADDR))
MT = MobileTrigger(new_fa=FaIdentifier(address=FA2_ADDR))


def agents() -> list[Any]:
    rng = random.Random(1)
    return [
        MobileNode(mn_config(), random=rng),
        ForeignAgent(fa_config(1), random=rng),
        HomeAgent(ha_config(), random=rng),
        GatewayForeignAgent(gfa_config(), random=rng),
    ]


@pytest.mark.parametrize("agent", agents(), ids=lambda a: a.role)
def test_start_twice_is_a_usage_error(agent: Any) -> None:
    agent.start(0.0)
    with pytest.raises(LocalUsageError):
        agent.start(1.0)


@pytest.mark.parametrize("agent", agents(), ids=lambda a: a.role)
def test_stale_and_unknown_timers_do_nothing(agent: Any) -> None:
    agent.start(0.0)
    assert agent.timer_expired(("no-such-timer",), 5.0) == []
    assert agent.timer_expired((), 5.0) == []
    assert agent.timer_expired(("pending", HOME), 5.0) == []


@pytest.mark.parametrize("agent", agents(), ids=lambda a: a.role)
def test_bad_triggers_are_counted_drops(agent: Any) -> None:
    out = agent.l2_trigger("not a trigger", 1.0)
    assert [a.reason for a in out] == [DropReason.BAD_TRIGGER]
    assert agent.drops[DropReason.BAD_TRIGGER] == 1


def test_triggers_for_another_role_are_bad() -> None:
    mn, fa, ha, gfa = agents()
    for agent, trigger in ((mn, ST), (mn, TT), (fa, MT), (ha, ST), (gfa, TT)):
        out = agent.l2_trigger(trigger, 1.0)
        assert [a.reason for a in out if isinstance(a, Dropped)] == [DropReason.BAD_TRIGGER]
    # ... and the triggers of RFC 4881 Table 1 for the role are accepted (ignored by the
    # base method).
    assert mn.l2_trigger(MT, 1.0) == []
    assert fa.l2_trigger(ST, 1.0) == [] and fa.l2_trigger(TT, 1.0) == []
    assert fa.l2_trigger(LinkUp(mn=MnIdentifier(link_address=MN_MAC)), 1.0) == []
    assert fa.l2_trigger(LinkDown(mn=MnIdentifier(link_address=MN_MAC)), 1.0) == []
    assert sum(fa.drops.values()) == 1  # only the L2-MT above


def test_mn_trigger_on_another_interface_is_bad() -> None:
    mn = agents()[0]
    out = mn.l2_trigger(LinkDown(interface="wlan9"), 1.0)
    assert [a.reason for a in out if isinstance(a, Dropped)] == [DropReason.BAD_TRIGGER]


@pytest.mark.parametrize("agent", agents(), ids=lambda a: a.role)
def test_other_protocols_and_ports_are_not_for_us(agent: Any) -> None:
    base = dict(interface="x", source=HOME, destination=HOME, payload=b"\x01")
    out = agent.receive(ReceivedPacket(protocol=6, **base), 1.0)  # type: ignore[arg-type]
    out += agent.receive(
        ReceivedPacket(protocol=17, source_port=53, destination_port=53, **base),
        1.0,  # type: ignore[arg-type]
    )
    assert [a.reason for a in out] == [DropReason.NOT_FOR_US] * 2
    assert agent.drops[DropReason.NOT_FOR_US] == 2


def test_snapshots_are_json_and_report_remaining_lifetimes() -> None:
    net = build()
    net.wire.run(3.0)
    for agent in (net.mn, net.fa1, net.fa2, net.ha):
        text = json.dumps(agent.snapshot(10.0))
        assert agent.name in text
    ha = net.ha.snapshot(10.0)["bindings"]
    assert isinstance(ha, dict)
    (binding,) = ha[str(HOME)]
    assert binding["lifetime_remaining"] == pytest.approx(600 + 0.003 - 10.0)


def test_same_seed_same_actions() -> None:
    def run(seed: int) -> list[str]:
        net = build(seed=seed, mn=mn_config(solicitation_jitter=0.5))
        net.move_to("nowhere")
        net.wire.run(30.0)
        net.move_to("cell2")
        net.wire.run(40.0)
        return [f"{t:.6f} {n} {a!r}" for t, n, a in net.wire.actions]

    assert run(3) == run(3)
    assert run(3) != run(4)


# ---------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("factory", "field", "value"),
    [
        (mn_config, "registration_lifetime", 0),
        (mn_config, "registration_lifetime", 70000),
        (mn_config, "mac", b"\x01"),
        (mn_config, "retransmit_initial", 0.5),  # RFC 5944 §3.6.3: never below 1 s
        (mn_config, "reregister_fraction", 1.0),
        (mn_config, "home_address", IPv4Address("224.0.0.1")),
        (mn_config, "encapsulating_delivery", "yes"),
        (fa_config, "registration_lifetime", 0),
        (fa_config, "name", ""),
        (fa_config, "encapsulations", frozenset()),
        (fa_config, "mn_fa", {"198.18.0.10": sa(0x200, b"k")}),
        (ha_config, "max_bindings", 0),
        (ha_config, "replay_skew", 0.0),
        (ha_config, "address", IPv4Address("0.0.0.0")),
    ],
)
def test_config_errors_name_the_field(factory: Any, field: str, value: object) -> None:
    with pytest.raises(LocalUsageError, match=field):
        factory(**{field: value})


def test_config_defaults() -> None:
    fa = fa_config()
    assert isinstance(fa, ForeignAgentConfig)
    assert fa.advertisement.interval == 1.0 and fa.advertisement.lifetime == 3
    ha = ha_config()
    assert isinstance(ha, HomeAgentConfig) and ha.replay_skew == 7.0
    mn = mn_config()
    assert isinstance(mn, MobileNodeConfig) and mn.eager and not mn.solicit_on_link_up
    with pytest.raises(LocalUsageError, match="encapsulating_delivery"):
        mn_config(encapsulating_delivery=True, reverse_tunnel=False)
