"""Mutated and random handoff messages at POST-REGISTRATION FAs (RFC 4881 §4, §4.5-4.7).

Every HRqst(s), HRqst(t), HRqst(r), HTT and HRply the FAs exchange in a handoff, with any
byte after the type changed (never to its original value; another type is another message,
see ``test_bad_input``), and random bytes after a handoff type byte, are
delivered to both FAs in every phase a handoff goes through: no exception, no reply, no
BET or cancel created or changed, and a counted drop each time. The FA-FA authenticator
covers every byte before it, so no mutation can pass.
"""

from __future__ import annotations

import copy
from functools import cache

from hypothesis import given
from hypothesis import strategies as st

from mip4.core.actions import Dropped, SendPacket
from mip4.core.packets import ReceivedPacket
from mip4.core.triggers import FaIdentifier, TargetTrigger
from tests.core.harness import Delivery
from tests.core.test_post_registration import (
    MN_ID,
    handoffs,
    move,
    post_net,
    registered,
    source_trigger,
)
from tests.core.topology import FA1_ADDR, Net

STAGES = ("agreed", "delivering")


@cache
def captured() -> tuple[tuple[str, ReceivedPacket], ...]:
    """Every handoff message of a source- and a target-triggered handoff and a teardown."""
    out: list[Delivery] = []
    for trigger in ("s", "t"):
        net = post_net()
        t0 = registered(net)
        if trigger == "s":
            source_trigger(net)
        else:
            net.wire.trigger("fa2", TargetTrigger(mn=MN_ID, old_fa=FaIdentifier(address=FA1_ADDR)))
        net.wire.run(t0 + 0.2)
        move(net)
        net.wire.run(net.wire.now + 1.5)  # registration with FA2, the HRqst(r)/HRply(r)
        out += handoffs(net, t0)
    return tuple((d.receiver, d.packet) for d in out)


@cache
def stage(name: str) -> Net:
    """One network per stage, shared by the examples: none of them may change it."""
    net = post_net()
    t0 = registered(net)
    source_trigger(net)
    net.wire.run(t0 + 0.2)
    if name == "delivering":
        move(net)
    return net


def deliver_and_check(net: Net, receiver: str, packet: ReceivedPacket) -> None:
    agent = net.fa1 if receiver == "fa1" else net.fa2
    before = copy.deepcopy(agent.post_snapshot(net.wire.now))
    drops_before = sum(agent.drops.values())
    out = agent.receive(packet, net.wire.now)
    assert not [a for a in out if isinstance(a, SendPacket)]
    assert [a for a in out if isinstance(a, Dropped)]
    assert sum(agent.drops.values()) == drops_before + 1
    assert agent.post_snapshot(net.wire.now) == before


@given(
    index=st.integers(min_value=0, max_value=100),
    position=st.integers(min_value=0, max_value=10_000),
    delta=st.integers(min_value=1, max_value=255),
    where=st.sampled_from(STAGES),
)
def test_a_mutated_handoff_message_changes_nothing(
    index: int, position: int, delta: int, where: str
) -> None:
    messages = captured()
    receiver, packet = messages[index % len(messages)]
    payload = bytearray(packet.payload)
    i = 1 + position % (len(payload) - 1)  # the type byte stays: a handoff message
    payload[i] = (payload[i] + delta) % 256
    mutated = ReceivedPacket(
        interface=packet.interface,
        source=packet.source,
        destination=packet.destination,
        protocol=packet.protocol,
        payload=bytes(payload),
        ttl=packet.ttl,
        source_port=packet.source_port,
        destination_port=packet.destination_port,
    )
    net = stage(where)
    deliver_and_check(net, receiver, mutated)


@given(
    kind=st.sampled_from([16, 17]),
    body=st.binary(min_size=0, max_size=120),
    receiver=st.sampled_from(["fa1", "fa2"]),
    where=st.sampled_from(STAGES),
)
def test_random_handoff_bytes_change_nothing(
    kind: int, body: bytes, receiver: str, where: str
) -> None:
    _, template = captured()[0]
    packet = ReceivedPacket(
        interface=template.interface,
        source=template.source if receiver == "fa2" else template.destination,
        destination=template.destination if receiver == "fa2" else template.source,
        protocol=template.protocol,
        payload=bytes([kind]) + body,
        ttl=template.ttl,
        source_port=template.source_port,
        destination_port=template.destination_port,
    )
    net = stage(where)
    deliver_and_check(net, receiver, packet)
