"""Agent discovery: advertisements, solicitations, movement detection (RFC 5944 §2)."""

from __future__ import annotations

import itertools
import random
from ipaddress import IPv4Address

import pytest

from mip4.core.actions import Dropped, DropReason, SendPacket, SetDefaultRouter, StartTimer
from mip4.core.config import AdvertisementConfig
from mip4.core.discovery import SolicitationBackoff, is_reboot, next_sequence
from mip4.core.foreign_agent import ForeignAgent
from mip4.core.home_agent import HomeAgent
from mip4.core.mobile_node import MobileNode
from mip4.core.packets import ALL_SYSTEMS, LIMITED_BROADCAST, UNSPECIFIED, ReceivedPacket
from mip4.core.triggers import LinkDown, LinkUp
from mip4.wire.icmp import AgentAdvertisement, AgentSolicitation, MobilityAgentFlags
from tests.core.harness import Wire
from tests.core.topology import (
    FA1_ADDR,
    FA1_MAC,
    FA2_ADDR,
    HA_ADDR,
    HOME,
    MN_MAC,
    build,
    fa_config,
    ha_config,
    mn_config,
)


def adverts(sends: list[SendPacket]) -> list[AgentAdvertisement]:
    return [
        AgentAdvertisement.decode(s.payload) for s in sends if s.message == "agent_advertisement"
    ]


def solicitation_from(source: IPv4Address, *, interface: str = "access0") -> ReceivedPacket:
    return ReceivedPacket(
        interface=interface,
        source=source,
        destination=IPv4Address("224.0.0.11"),
        protocol=1,
        payload=AgentSolicitation().encode(),
        ttl=1,
        link_source=MN_MAC,
    )


# ---------------------------------------------------------------------------- sequence numbers


def test_sequence_numbers_wrap_from_0xffff_to_256() -> None:
    assert [next_sequence(s) for s in (0, 1, 255, 0xFFFE, 0xFFFF)] == [1, 2, 256, 0xFFFF, 256]


@pytest.mark.parametrize(
    ("previous", "current", "reboot"),
    [(10, 11, False), (10, 3, True), (0xFFFF, 256, False), (300, 255, True), (300, 299, False)],
)
def test_reboot_rule(previous: int, current: int, reboot: bool) -> None:
    assert is_reboot(previous, current) is reboot  # RFC 5944 §2.4.4


def test_advertiser_rolls_over_to_256() -> None:
    agent = ForeignAgent(fa_config(1), random=random.Random(1))
    agent.advertiser.sequence = 0xFFFE
    sends = [a for a in agent.start(0.0) if isinstance(a, SendPacket)]
    for t in (1.0, 2.0, 3.0):
        sends += [a for a in agent.timer_expired(("advertise",), t) if isinstance(a, SendPacket)]
    seqs = [ad.mobility_extension.sequence_number for ad in adverts(sends)]  # type: ignore[union-attr]
    assert seqs == [0xFFFE, 0xFFFF, 256, 257]


# ---------------------------------------------------------------------------- advertisements


def test_first_advertisement_and_its_fields() -> None:
    agent = ForeignAgent(fa_config(1), random=random.Random(1))
    out = agent.start(0.0)
    (send,) = [a for a in out if isinstance(a, SendPacket)]
    assert (send.destination, send.ttl, send.interface) == (ALL_SYSTEMS, 1, "access0")
    assert send.link_source == FA1_MAC
    ad = AgentAdvertisement.decode(send.payload)
    maae = ad.mobility_extension
    assert maae is not None
    assert ad.lifetime == 3  # 3 x the 1 s interval
    assert [r.address for r in ad.router_addresses] == [FA1_ADDR]
    assert maae.sequence_number == 0  # RFC 5944 §2.3.2: the first after boot is 0
    assert maae.registration_lifetime == 1800
    assert maae.care_of_addresses == (FA1_ADDR,)
    expected = MobilityAgentFlags.F | MobilityAgentFlags.T | MobilityAgentFlags.M
    assert maae.flags == expected | MobilityAgentFlags.G
    assert [a for a in out if isinstance(a, StartTimer)] == [StartTimer(("advertise",), 1.0)]


def test_periodic_advertisements_are_exactly_periodic_without_jitter() -> None:
    agent = ForeignAgent(fa_config(1), random=random.Random(1))
    agent.start(0.0)
    deadlines = []
    now = 0.0
    for _ in range(5):
        (timer,) = [
            a for a in agent.timer_expired(("advertise",), now or 1.0) if isinstance(a, StartTimer)
        ]
        now = timer.deadline
        deadlines.append(now)
    assert deadlines == [2.0, 3.0, 4.0, 5.0, 6.0]


def test_jitter_comes_from_the_injected_random_source() -> None:
    def run(seed: int) -> list[float]:
        cfg = fa_config(1, advertisement=AdvertisementConfig(interval=1.0, jitter=0.25))
        agent = ForeignAgent(cfg, random=random.Random(seed))
        (timer,) = [a for a in agent.start(0.0) if isinstance(a, StartTimer)]
        out = [timer.deadline]
        for _ in range(20):
            (timer,) = [
                a
                for a in agent.timer_expired(("advertise",), timer.deadline)
                if isinstance(a, StartTimer)
            ]
            out.append(timer.deadline)
        return out

    a, b = run(5), run(5)
    assert a == b and a != run(6)
    gaps = [y - x for x, y in itertools.pairwise([0.0, *a])]
    assert all(0.75 <= g <= 1.25 for g in gaps)


def test_broadcast_advertisements_by_configuration() -> None:
    cfg = fa_config(1, advertisement=AdvertisementConfig(destination=LIMITED_BROADCAST))
    (send, _) = ForeignAgent(cfg, random=random.Random(1)).start(0.0)
    assert isinstance(send, SendPacket) and send.destination == LIMITED_BROADCAST


def test_solicitation_is_answered_unicast_to_the_soliciter() -> None:
    agent = ForeignAgent(fa_config(1), random=random.Random(1))
    agent.start(0.0)
    out = agent.receive(solicitation_from(HOME), 0.5)
    (send,) = out
    assert isinstance(send, SendPacket)
    # RFC 5944 §2.1, §2.3: unicast to the soliciter at its frame's source, TTL 1.
    assert (send.destination, send.link_destination, send.ttl) == (HOME, MN_MAC, 1)
    (ad,) = adverts([send])
    assert ad.mobility_extension is not None and ad.mobility_extension.sequence_number == 1


def test_solicitation_from_0_0_0_0_is_answered_by_multicast_at_a_limited_rate() -> None:
    agent = ForeignAgent(fa_config(1), random=random.Random(1))
    out = agent.receive(solicitation_from(UNSPECIFIED), 0.5)
    (send,) = out
    assert isinstance(send, SendPacket) and send.destination == ALL_SYSTEMS
    again = agent.receive(solicitation_from(UNSPECIFIED), 0.55)
    assert [a.reason for a in again if isinstance(a, Dropped)] == [DropReason.RATE_LIMITED]


def test_solicitations_are_answered_only_on_the_access_link() -> None:
    agent = ForeignAgent(fa_config(1), random=random.Random(1))
    out = agent.receive(solicitation_from(HOME, interface="wired0"), 0.5)
    assert [a.reason for a in out if isinstance(a, Dropped)] == [DropReason.NOT_FOR_US]


def test_home_agent_advertises_with_h_on_its_home_link() -> None:
    ha = HomeAgent(ha_config(advertisement=AdvertisementConfig()), random=random.Random(1))
    (send, _) = ha.start(0.0)
    assert isinstance(send, SendPacket) and send.interface == "home0"
    maae = AgentAdvertisement.decode(send.payload).mobility_extension
    assert maae is not None and maae.flags & MobilityAgentFlags.H
    assert not maae.flags & MobilityAgentFlags.F
    reply = ha.receive(solicitation_from(HOME, interface="home0"), 0.3)
    assert isinstance(reply[0], SendPacket) and reply[0].destination == HOME


# ---------------------------------------------------------------------------- the MN side


def test_solicitation_backoff_schedule() -> None:
    backoff = SolicitationBackoff(interval=1.0, initial=3, maximum=60.0)
    gaps = [backoff.next_interval(random.Random(0)) for _ in range(9)]
    # RFC 5944 §2.4: three at one per second, then doubling up to the maximum.
    assert gaps == [1.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]


def test_mn_alone_solicits_with_backoff() -> None:
    wire = Wire()
    wire.add(MobileNode(mn_config(), random=random.Random(1)), ("radio0", "lonely", MN_MAC, None))
    wire.start()
    wire.run(130.0)
    times = [t for t, n, a in wire.actions if isinstance(a, SendPacket)]
    assert times == [0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 124.0]


def test_eager_movement_registers_on_the_first_advertisement_of_a_new_fa() -> None:
    net = build()
    net.wire.run(2.5)
    since = net.wire.now
    net.move_to("cell2")
    net.wire.run(5.0)
    (selected,) = net.wire.events("mn", "agent-selected")[1:]
    assert selected.fields == {"agent": str(FA2_ADDR), "previous": str(FA1_ADDR)}
    assert net.wire.messages(since=since) == [
        ("mn", "fa2", "registration_request"),
        ("fa2", "ha", "registration_request"),
        ("ha", "fa2", "registration_reply"),
        ("fa2", "mn", "registration_reply"),
    ]
    # It registered at FA2's first advertisement (periodic, at t = 3.0 s).
    first = next(
        t
        for t, n, a in net.wire.actions
        if n == "mn"
        and isinstance(a, SendPacket)
        and a.message == "registration_request"
        and t > since
    )
    assert first == pytest.approx(3.001)
    assert net.mn.registration is not None and net.mn.registration.agent == FA2_ADDR
    assert net.ha.bindings(HOME)[0].care_of_address == FA2_ADDR


def test_lazy_mn_keeps_its_fa_while_heard_then_uses_another_when_it_is_lost() -> None:
    net = build(mn=mn_config(eager=False))
    net.wire.move("fa2", "access0", "cell1")  # both FAs heard in cell1
    net.wire.run(2.5)
    assert net.mn.registration is not None and net.mn.registration.agent == FA1_ADDR
    assert len(net.wire.events("mn", "agent-selected")) == 1
    net.wire.move("fa1", "access0", "elsewhere")  # FA1 goes silent
    net.wire.run(8.0)
    lost = net.wire.events("mn", "agent-lost")
    assert [e.fields["agent"] for e in lost] == [str(FA1_ADDR)]
    assert net.mn.registration is not None and net.mn.registration.agent == FA2_ADDR


def test_agent_lifetime_expiry_drops_the_router_and_solicits() -> None:
    net = build()
    net.wire.run(2.5)
    net.move_to("nowhere")
    net.wire.run(10.0)
    (lost,) = net.wire.events("mn", "agent-lost")
    lost_at = next(t for t, n, a in net.wire.actions if a is lost)
    assert lost_at == pytest.approx(2.001 + 3.0)  # last advert heard + ICMP lifetime 3 s
    assert net.wire.of("mn", SetDefaultRouter)[-1].router is None
    solicits = [
        t
        for t, n, a in net.wire.actions
        if n == "mn" and isinstance(a, SendPacket) and a.message == "agent_solicitation"
    ]
    assert solicits[1:4] == [lost_at, lost_at + 1.0, lost_at + 2.0]


def test_sequence_decrease_below_256_makes_the_mn_register_again() -> None:
    net = build()
    net.wire.run(2.5)
    registrations = len(net.wire.events("mn", "registration-accepted"))
    net.fa1.advertiser.sequence = 300  # a rollover-like jump: not a reboot
    net.wire.run(3.5)
    net.fa1.advertiser.sequence = 299  # decrease to >= 256: rollover, not a reboot
    net.wire.run(4.5)
    assert len(net.wire.events("mn", "registration-accepted")) == registrations
    net.fa1.advertiser.sequence = 0  # the FA rebooted
    net.wire.run(5.5)
    assert net.wire.events("mn", "agent-rebooted")
    assert len(net.wire.events("mn", "registration-accepted")) == registrations + 1


def test_link_down_stops_sending_and_link_up_solicits_with_standard_solicit() -> None:
    net = build(mn=mn_config(solicit_on_link_up=True))
    net.wire.run(2.5)
    net.wire.trigger("mn", LinkDown())
    assert net.wire.of("mn", SetDefaultRouter)[-1].router is None
    net.move_to("cell2")
    net.wire.run(2.6)
    sent_while_down = [
        a for t, n, a in net.wire.actions if n == "mn" and t > 2.5 and isinstance(a, SendPacket)
    ]
    assert sent_while_down == []
    since = net.wire.now
    out = net.wire.trigger("mn", LinkUp())
    assert [a.message for a in out if isinstance(a, SendPacket)] == ["agent_solicitation"]
    net.wire.run(2.7)
    # solicitation -> unicast advertisement from FA2 -> registration: no wait for a period.
    assert net.wire.messages(since=since, icmp=True)[:3] == [
        ("mn", "fa2", "agent_solicitation"),
        ("fa2", "mn", "agent_advertisement"),
        ("mn", "fa2", "registration_request"),
    ]
    assert net.mn.registration is not None and net.mn.registration.agent == FA2_ADDR


def test_back_on_the_same_fa_after_link_up_restores_the_default_router() -> None:
    net = build()
    net.wire.run(2.5)
    net.wire.trigger("mn", LinkDown())
    net.wire.run(2.6)
    net.wire.trigger("mn", LinkUp())
    net.wire.run(3.5)
    routers = [a.router for a in net.wire.of("mn", SetDefaultRouter)]
    assert routers == [FA1_ADDR, None, FA1_ADDR]


def test_retransmissions_wait_while_the_link_is_down() -> None:
    net = build()
    net.wire.lose = lambda sender, send: send.message == "registration_reply"
    net.wire.run(0.5)
    net.wire.trigger("mn", LinkDown())
    net.wire.run(5.0)
    assert [
        t
        for t, n, a in net.wire.actions
        if n == "mn"
        and isinstance(a, SendPacket)
        and a.message == "registration_request"
        and t > 0.5
    ] == []
    net.wire.trigger("mn", LinkUp())
    net.wire.run(8.0)
    assert any(
        n == "mn" and isinstance(a, SendPacket) and a.message == "registration_request"
        for t, n, a in net.wire.actions
        if t > 5.0
    )


def test_ha_address_is_not_a_foreign_agent() -> None:
    net = build(ha=ha_config(advertisement=AdvertisementConfig()))
    net.wire.run(0.5)
    assert HA_ADDR not in [a.fields.get("agent") for a in net.wire.events("mn", "agent-selected")]


def test_power_on_with_standard_solicit_sends_one_solicitation() -> None:
    mn = MobileNode(mn_config(solicit_on_link_up=True), random=random.Random(1))
    out = mn.start(0.0) + mn.l2_trigger(LinkUp(interface="radio0"), 0.0)
    assert [a.message for a in out if isinstance(a, SendPacket)] == ["agent_solicitation"]
    later = mn.l2_trigger(LinkUp(interface="radio0"), 0.5)
    assert [a.message for a in later if isinstance(a, SendPacket)] == ["agent_solicitation"]
