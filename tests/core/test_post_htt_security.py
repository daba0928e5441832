"""Forged, unauthenticated and replayed three-party messages (RFC 4881 §4, §4.2, §4.7).

A hand-wired three-FA network (FA1 the aFA, FA2 the current FA, FA3 the nFA) runs both
three-party handoffs (Figures 10 and 11); every message of them is captured. Each HTT
(request and reply) and each HRqst/HRply of the three-party legs, unauthenticated, with a
forged authenticator, a wrong SPI, from an FA with no SA, replayed, or with any byte after
the type changed, is delivered to the FA it was meant for in every phase the handoff goes
through (the aFA FORWARDING, the current FA HANDING_OVER, the nFA before and while it asks
the aFA): nothing is sent, no BET or cancel is created or changed, and one drop is counted.
"""

from __future__ import annotations

import copy
import dataclasses
import random
from functools import cache
from ipaddress import IPv4Address
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mip4.core.actions import Dropped, DropReason, SendPacket
from mip4.core.foreign_agent import ForeignAgent
from mip4.core.packets import ReceivedPacket
from mip4.core.post_registration import Phase
from mip4.core.triggers import FaIdentifier, LinkDown, LinkUp, SourceTrigger, TargetTrigger
from mip4.wire.handoff import HandoffReply, HandoffRequest
from tests.core.harness import Delivery
from tests.core.test_post_registration import (
    ACCESS,
    FA_FA_KEY,
    FA_FA_SPI,
    MN_ID,
    handoffs,
    move,
    post,
    registered,
    seal_fa_fa,
    source_trigger,
)
from tests.core.topology import FA1_ADDR, FA2_ADDR, HOME, Net, build, fa_config, mn_config, sa

FA3_ADDR = IPv4Address("198.19.3.1")
FA3_MAC = bytes.fromhex("02000000f301")
KEY_23, SPI_23 = b"fa2-fa3-shared-key", 0x600
KEY_13, SPI_13 = b"fa1-fa3-shared-key", 0x700
KEYS = {
    frozenset({FA1_ADDR, FA2_ADDR}): (FA_FA_KEY, FA_FA_SPI),
    frozenset({FA2_ADDR, FA3_ADDR}): (KEY_23, SPI_23),
    frozenset({FA1_ADDR, FA3_ADDR}): (KEY_13, SPI_13),
}
ADDRESS = {"fa1": FA1_ADDR, "fa2": FA2_ADDR, "fa3": FA3_ADDR}


@dataclasses.dataclass
class Net3:
    net: Net
    fa3: ForeignAgent

    def agent(self, name: str) -> ForeignAgent:
        return {"fa1": self.net.fa1, "fa2": self.net.fa2, "fa3": self.fa3}[name]


def three_party_net(**fa3: Any) -> Net3:
    """FA1, FA2 and FA3 with FA-FA SAs between each pair; ``fa3``: FA3's POST settings."""

    def neighbours(me: IPv4Address) -> dict[IPv4Address, Any]:
        return {
            other: sa(spi, key)
            for pair, (key, spi) in KEYS.items()
            if me in pair
            for other in pair - {me}
        }

    net = build(
        fa1=fa_config(1, post_registration=post(neighbours=neighbours(FA1_ADDR))),
        fa2=fa_config(2, post_registration=post(neighbours=neighbours(FA2_ADDR))),
        mn=mn_config(deferred_registration=True),
        start=False,
    )
    fa3 = ForeignAgent(
        fa_config(
            3,
            name="fa3",
            address=FA3_ADDR,
            mac=FA3_MAC,
            post_registration=post(neighbours=neighbours(FA3_ADDR), **fa3),
        ),
        random=random.Random(3),
    )
    wire = net.wire
    wire.add(
        fa3,
        (fa3.config.access_interface, "cell3", FA3_MAC, None),
        (fa3.config.wired_interface, "core", bytes.fromhex("02000000c000"), FA3_ADDR),
    )
    wire.start()
    return Net3(net, fa3)


def at_fa2(n: Net3) -> float:
    """The MN registered with FA1, then a two-party handoff to FA2 (FA1 FORWARDING, FA2
    DELIVERING)."""
    net = n.net
    t0 = registered(net)
    source_trigger(net)
    net.wire.run(t0 + 0.2)
    move(net)
    net.wire.run(net.wire.now + 0.01)
    assert net.fa1.bet(HOME).phase is Phase.FORWARDING
    assert net.fa2.bet(HOME).phase is Phase.DELIVERING
    return net.wire.now


def third_trigger(n: Net3, trigger: str) -> None:
    wire = n.net.wire
    if trigger == "s":
        wire.trigger("fa2", SourceTrigger(mn=MN_ID, new_fa=FaIdentifier(address=FA3_ADDR)))
    else:
        wire.trigger("fa3", TargetTrigger(mn=MN_ID, old_fa=FaIdentifier(address=FA2_ADDR)))


def to_fa3(n: Net3) -> None:
    wire = n.net.wire
    wire.trigger("mn", LinkDown(interface="radio0"))
    wire.trigger("fa2", LinkDown(interface=ACCESS, mn=MN_ID))
    wire.move("mn", n.net.mn.config.interface, "cell3")
    wire.run(wire.now + 0.1)
    wire.trigger("mn", LinkUp(interface="radio0", fa=FaIdentifier(address=FA3_ADDR)))
    wire.trigger("fa3", LinkUp(interface=ACCESS, mn=MN_ID))


@cache
def captured() -> tuple[Delivery, ...]:
    """Every FA-FA message of both three-party handoffs, from the HTT on."""
    out: list[Delivery] = []
    for trigger in ("s", "t"):
        n = three_party_net()
        t1 = at_fa2(n)
        third_trigger(n, trigger)
        n.net.wire.run(t1 + 0.2)
        to_fa3(n)
        n.net.wire.run(n.net.wire.now + 0.2)
        out += handoffs(n.net, t1)
    names = {d.send.message for d in out}
    assert {"handoff_to_third", "handoff_request_t", "handoff_reply_t"} <= names
    return tuple(out)


def htt(kind: type) -> list[Delivery]:
    return [
        d
        for d in captured()
        if d.send.message == "handoff_to_third" and isinstance(d.decoded(), kind)
    ]


STAGES = ("htt-due", "handing-over", "asking-anchor")


@cache
def stage(name: str) -> Net3:
    """One network per stage (the examples must not change it):

    - ``htt-due``: FA1 FORWARDING to FA2, FA2 HANDING_OVER, FA3 waiting for FA2's HTT reply
      (it sent an HRqst(t) on L2-TT; the HTT is lost);
    - ``handing-over``: FA2 HANDING_OVER (it sent the HTT request, lost on the way), FA3
      with no record;
    - ``asking-anchor``: FA3 TARGET_REQUESTED towards FA1 (its HRqst(t) lost), FA1
      FORWARDING, FA2 HANDING_OVER.
    """
    n = three_party_net()
    t1 = at_fa2(n)
    wire = n.net.wire
    if name == "htt-due":
        wire.lose = lambda sender, send: send.message == "handoff_to_third"
        third_trigger(n, "t")
    elif name == "handing-over":
        wire.lose = lambda sender, send: send.message == "handoff_to_third"
        third_trigger(n, "s")
    else:
        wire.lose = lambda sender, send: sender == "fa3" and send.message == "handoff_request_t"
        third_trigger(n, "s")
    wire.run(t1 + 0.05)  # within the reply timeout: every record is still waiting
    phases = {
        fa: (lambda b: None if b is None else b.phase)(n.agent(fa).bet(HOME)) for fa in ADDRESS
    }
    assert phases["fa1"] is Phase.FORWARDING
    expected = {
        "htt-due": {"fa2": Phase.HANDING_OVER, "fa3": Phase.TARGET_REQUESTED},
        "handing-over": {"fa2": Phase.HANDING_OVER, "fa3": None},
        "asking-anchor": {"fa2": Phase.HANDING_OVER, "fa3": Phase.TARGET_REQUESTED},
    }[name]
    assert {k: phases[k] for k in expected} == expected
    return n


def deliver_and_check(
    n: Net3, receiver: str, packet: ReceivedPacket, reason: DropReason | None = None
) -> None:
    agent = n.agent(receiver)
    now = n.net.wire.now
    before = copy.deepcopy(agent.post_snapshot(now))
    drops_before = dict(agent.drops)
    out = agent.receive(packet, now)
    assert not [a for a in out if isinstance(a, SendPacket)]
    assert [a for a in out if isinstance(a, Dropped)]
    assert sum(agent.drops.values()) == sum(drops_before.values()) + 1
    if reason is not None:
        assert agent.drops[reason] == drops_before.get(reason, 0) + 1
    assert agent.post_snapshot(now) == before


def resealed(delivery: Delivery, *, key: bytes | None = None, spi: int | None = None) -> bytes:
    message = delivery.decoded()
    assert isinstance(message, HandoffRequest | HandoffReply)
    bare = dataclasses.replace(message, extensions=message.extensions[:-1])
    pair_key, pair_spi = KEYS[frozenset({delivery.packet.source, delivery.packet.destination})]
    if key is None and spi is None:
        return bare.encode()  # no FA-FA authentication at all
    return seal_fa_fa(bare, key=key or pair_key, spi=pair_spi if spi is None else spi)


def with_payload(packet: ReceivedPacket, payload: bytes, **changes: Any) -> ReceivedPacket:
    return dataclasses.replace(packet, payload=payload, **changes)


BAD = {
    "unauthenticated": (lambda d: resealed(d), None, DropReason.MISSING_AUTHENTICATION),
    "forged": (lambda d: resealed(d, key=b"forged-key"), None, DropReason.BAD_AUTHENTICATOR),
    "wrong-spi": (lambda d: resealed(d, spi=0x999), None, DropReason.BAD_AUTHENTICATOR),
    "unknown-fa": (
        lambda d: d.packet.payload,
        IPv4Address("198.19.9.9"),
        DropReason.NO_SECURITY_ASSOCIATION,
    ),
}


@pytest.mark.parametrize("bad", sorted(BAD))
@pytest.mark.parametrize("where", STAGES)
@pytest.mark.parametrize("kind", ["request", "reply"])
def test_a_bad_htt_changes_nothing(kind: str, where: str, bad: str) -> None:
    """An HTT request (type 16) or reply (17) that is not authentic by the FA-FA SA is
    dropped and counted at the nFA, wherever the handoff stands; so is one sent to the aFA
    or the current FA."""
    make, source, reason = BAD[bad]
    n = stage(where)
    for delivery in htt(HandoffRequest if kind == "request" else HandoffReply):
        packet = delivery.packet
        forged = with_payload(packet, make(delivery), source=source or packet.source)
        for receiver in ("fa3", "fa1"):
            deliver_and_check(
                n, receiver, dataclasses.replace(forged, destination=ADDRESS[receiver]), reason
            )


def test_an_authentic_htt_does_act_at_those_stages() -> None:
    """The control for the test above: authentic HTTs make the nFA act at those stages
    (it answers an HTT request with an HRply(s) and asks the aFA; an HTT reply to its
    HRqst(t) makes it ask the aFA), so the drops above are the authentication's doing."""
    n = copy.deepcopy(stage("handing-over"))
    [request] = htt(HandoffRequest)
    message = request.decoded()
    fresh = dataclasses.replace(
        message,
        identification=message.identification + (1 << 32),
        extensions=message.extensions[:-1],
    )
    packet = with_payload(request.packet, seal_fa_fa(fresh, key=KEY_23, spi=SPI_23))
    out = n.fa3.receive(dataclasses.replace(packet), n.net.wire.now)
    assert sorted(s.message for s in out if isinstance(s, SendPacket)) == [
        "handoff_reply_s",
        "handoff_request_t",
    ]
    n = copy.deepcopy(stage("htt-due"))
    [reply_delivery] = htt(HandoffReply)
    reply = reply_delivery.decoded()
    waiting = n.fa3.bet(HOME)
    assert waiting is not None
    answer = dataclasses.replace(
        reply, identification=next(iter(waiting.outstanding)), extensions=reply.extensions[:-1]
    )
    packet = with_payload(reply_delivery.packet, seal_fa_fa(answer, key=KEY_23, spi=SPI_23))
    out = n.fa3.receive(packet, n.net.wire.now)
    assert [s.message for s in out if isinstance(s, SendPacket)] == ["handoff_request_t"]


@pytest.mark.parametrize("kind", ["request", "reply"])
def test_a_replayed_htt_changes_nothing(kind: str) -> None:
    """The HTT of a finished handoff, delivered again to the nFA: a request is stale by
    its Identification (RFC 5944 §5.7.1), a reply answers nothing outstanding."""
    n = three_party_net()
    t1 = at_fa2(n)
    third_trigger(n, "s" if kind == "request" else "t")
    n.net.wire.run(t1 + 0.2)
    to_fa3(n)
    n.net.wire.run(n.net.wire.now + 0.2)
    [delivery] = [
        d
        for d in handoffs(n.net, t1)
        if d.send.message == "handoff_to_third"
        and isinstance(d.decoded(), HandoffRequest if kind == "request" else HandoffReply)
    ]
    deliver_and_check(
        n,
        "fa3",
        delivery.packet,
        DropReason.REPLAYED,
    )


@given(
    index=st.integers(min_value=0, max_value=100),
    position=st.integers(min_value=0, max_value=10_000),
    delta=st.integers(min_value=1, max_value=255),
    where=st.sampled_from(STAGES),
)
def test_a_mutated_three_party_message_changes_nothing(
    index: int, position: int, delta: int, where: str
) -> None:
    """Any byte after the type of any three-party message changed: dropped everywhere."""
    messages = captured()
    delivery = messages[index % len(messages)]
    payload = bytearray(delivery.packet.payload)
    i = 1 + position % (len(payload) - 1)
    payload[i] = (payload[i] + delta) % 256
    deliver_and_check(
        stage(where), delivery.receiver, with_payload(delivery.packet, bytes(payload))
    )
