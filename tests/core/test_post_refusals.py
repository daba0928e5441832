"""An oFA that refuses an HRqst(t) (RFC 4881 §4.1 step 3a, §4.6: "0 refuses"; §8.2).

The nFA builds no BET and makes the MN register (§4.4 event 1): it advertises to the MN on
its L2-LU, or at once when the MN is there already. The oFA refuses with code 1 when it has
no visitor entry for the MN, and with lifetime 0 by its own choice.
"""

from __future__ import annotations

import dataclasses

import pytest

from mip4.core.actions import Notify, SendPacket, SetProxyArp, SetUplink
from mip4.core.packets import ReceivedPacket
from mip4.core.triggers import LinkUp
from mip4.wire.handoff import HandoffCode, HandoffReply
from tests.core.test_post_registration import (
    ACCESS,
    FA1_ADDR,
    MN_ID,
    move,
    post_net,
    registered,
    seal_fa_fa,
    target_trigger,
)
from tests.core.topology import FA2_ADDR, HOME, Net


def advertised(net: Net, since: float) -> list[SendPacket]:
    return [
        s
        for s in net.wire.of("fa2", SendPacket, since=since)
        if s.message == "agent_advertisement" and s.link_destination is not None
    ]


def why(net: Net, since: float) -> list[str]:
    return [
        str(n.fields["why"])
        for n in net.wire.of("fa2", Notify, since=since)
        if n.event in ("post-advertisement", "advertisement-deferred")
    ]


def refusing_net(how: str) -> tuple[Net, float]:
    """The MN on FA1's link; FA1 has no visitor for it (its registration never got
    through: ``no-visitor``) or is registered there and FA1 will refuse by lifetime 0
    (``lifetime-0``: FA1's answer is replaced by one with lifetime 0)."""
    net = post_net(fa2={"reply_timeout": 0.5})
    if how == "no-visitor":
        net.wire.lose = lambda sender, send: send.message == "registration_request"
        net.wire.trigger("fa1", LinkUp(interface=ACCESS, mn=MN_ID))
        net.wire.run(0.5)
        net.wire.lose = lambda sender, send: False
        assert net.fa1.visitor(HOME) is None
        return net, net.wire.now
    return net, registered(net)


def hold_reply(net: Net, how: str) -> list[ReceivedPacket]:
    """Keep FA1's HRply(t) from FA2 (to deliver it when the test wants), as FA1 sent it
    (code 1) or with lifetime 0."""
    held: list[ReceivedPacket] = []
    wire = net.wire

    def lose(sender: str, send: SendPacket) -> bool:
        if send.message != "handoff_reply_t":
            return False
        reply = HandoffReply.decode(send.payload)
        if how == "lifetime-0":
            assert reply.code == HandoffCode.SUCCESS and reply.lifetime > 0
            bare = dataclasses.replace(reply, lifetime=0, extensions=reply.extensions[:-1])
            payload = seal_fa_fa(bare)
        else:
            assert reply.code == HandoffCode.GENERIC_FAILURE  # §4.6 code 1: no visitor
            payload = send.payload
        held.append(
            ReceivedPacket(
                interface="wired0",
                source=send.source,
                destination=send.destination,
                protocol=send.protocol,
                payload=payload,
                ttl=63,
                source_port=send.source_port,
                destination_port=send.destination_port,
            )
        )
        return True

    wire.lose = lose
    return held


@pytest.mark.parametrize("how", ["no-visitor", "lifetime-0"])
def test_a_refusal_before_the_mn_arrives_makes_the_nfa_advertise_on_l2_lu(how: str) -> None:
    net, t0 = refusing_net(how)
    held = hold_reply(net, how)
    target_trigger(net)
    net.wire.run(t0 + 0.01)
    [reply] = held
    net.wire.deliver("fa2", reply)
    assert net.fa2.bet(HOME) is None  # no BET
    assert advertised(net, t0) == []  # the MN is not on FA2's link yet
    assert why(net, t0) == ["HRply(t) refused"]
    t1 = net.wire.now
    net.wire.lose = lambda sender, send: False
    move(net)
    net.wire.run(net.wire.now + 0.01)
    [advert] = advertised(net, t1)
    assert advert.destination == HOME
    assert not [a for a in net.wire.of("fa2", SetProxyArp, since=t1)]
    assert not [
        a for a in net.wire.of("fa2", SetUplink, since=t1) if a.tunnel_destination == FA1_ADDR
    ]
    net.wire.run(net.wire.now + 0.1)
    assert net.mn.registration is not None and net.mn.registration.agent == FA2_ADDR


@pytest.mark.parametrize("how", ["no-visitor", "lifetime-0"])
def test_a_refusal_after_the_mn_arrived_makes_the_nfa_advertise_at_once(how: str) -> None:
    """The refusal comes after L2-LU (within the reply timeout): the L2-LU found a handoff
    under way and did not advertise; the refusal must."""
    net, t0 = refusing_net(how)
    held = hold_reply(net, how)
    target_trigger(net)
    move(net)
    net.wire.run(net.wire.now + 0.01)
    t1 = net.wire.now
    assert advertised(net, t0) == []  # L2-LU: a handoff is under way
    [reply] = held
    net.wire.lose = lambda sender, send: False
    out = net.wire.deliver("fa2", reply)
    [advert] = [s for s in out if isinstance(s, SendPacket) and s.message == "agent_advertisement"]
    assert advert.destination == HOME
    assert why(net, t1) == ["HRply(t) refused"]
    net.wire.run(net.wire.now + 0.1)
    assert net.mn.registration is not None and net.mn.registration.agent == FA2_ADDR
