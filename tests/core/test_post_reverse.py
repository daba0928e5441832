"""The B bit and reverse tunnelling across POST-REGISTRATION variants (RFC 4881 §4.1,
§4.5, §4.6, §7).

An nFA that will not reverse-tunnel to the oFA tunnels the MN's uplink to its HA when the
oFA says (B) the MN asked for that at registration: from an HRqst(s) with T and B, from an
HRqst(s) with B alone, and from the aFA's HRply(t) in a three-party handoff whose first
hop was target-triggered (the anchor learned B from the MN's registration, not from an
HRqst(s)).
"""

from __future__ import annotations

import pytest

from mip4.core.actions import SetUplink, UplinkMode
from mip4.core.triggers import FaIdentifier, TargetTrigger
from mip4.wire.handoff import HandoffFlags, HandoffReply, HandoffRequest
from tests.core.test_post_htt_security import (
    FA3_ADDR,
    third_trigger,
    three_party_net,
    to_fa3,
)
from tests.core.test_post_registration import (
    MN_ID,
    data_plane,
    from_fa1,
    handoffs,
    move,
    post_net,
    registered,
    seal_fa_fa,
    source_request,
)
from tests.core.topology import FA1_ADDR, FA2_ADDR, HA_ADDR, HOME

TO_HA = SetUplink(
    home_address=HOME,
    mode=UplinkMode.REVERSE_TUNNEL,
    tunnel_source=FA2_ADDR,
    tunnel_destination=HA_ADDR,
)


@pytest.mark.parametrize(
    "flags",
    [HandoffFlags.H | HandoffFlags.T | HandoffFlags.B, HandoffFlags.H | HandoffFlags.B],
    ids=["T+B", "B"],
)
def test_b_in_an_hrqst_s_sends_the_uplink_to_the_ha(flags: HandoffFlags) -> None:
    """§4.5: B in an HRqst(s): "the nFA SHOULD use a reverse tunnel to the HA if it will
    not be reverse tunneling to the oFA" (this nFA does not reverse-tunnel)."""
    net = post_net(fa2={"reverse_tunnel": False})
    registered(net)
    request = source_request(net, flags=flags)
    t1 = net.wire.now
    out = net.wire.deliver("fa2", from_fa1(seal_fa_fa(request)))
    [reply] = [a for a in out if getattr(a, "message", "") == "handoff_reply_s"]
    assert not HandoffReply.decode(reply.payload).flags & HandoffFlags.T
    assert net.fa2.bet(HOME).to_home_agent
    move(net)
    uplinks = [a for a in data_plane(net, "fa2", t1) if isinstance(a, SetUplink)]
    assert uplinks == [TO_HA]


def test_without_b_an_nfa_that_does_not_reverse_tunnel_routes() -> None:
    """The control: the same HRqst(s) with T but no B -> routed uplink."""
    net = post_net(fa2={"reverse_tunnel": False})
    registered(net)
    t1 = net.wire.now
    net.wire.deliver("fa2", from_fa1(seal_fa_fa(source_request(net))))
    move(net)
    uplinks = [a for a in data_plane(net, "fa2", t1) if isinstance(a, SetUplink)]
    assert uplinks == [SetUplink(home_address=HOME, mode=UplinkMode.ROUTE)]


def test_three_party_after_a_target_triggered_first_hop_keeps_b() -> None:
    """§4.2, §4.6: the MN registered at FA1 with a reverse tunnel; the first hop (FA1 ->
    FA2) is target-triggered, so FA1 learns B from the visitor entry, not an HRqst(s). FA3
    asks no reverse tunnel (T unset in its HRqst(t)); FA1's HRply(t) sets B and FA3 tunnels
    the uplink to the HA."""
    n = three_party_net(reverse_tunnel=False)
    net = n.net
    t0 = registered(net)
    net.wire.trigger("fa2", TargetTrigger(mn=MN_ID, old_fa=FaIdentifier(address=FA1_ADDR)))
    net.wire.run(t0 + 0.2)
    move(net)
    net.wire.run(net.wire.now + 0.01)
    assert net.fa1.bet(HOME).to_home_agent
    t1 = net.wire.now
    third_trigger(n, "s")
    net.wire.run(t1 + 0.02)  # the HTT, HRply(s), HRqst(t), HRply(t) (1 ms a hop)
    [request] = [d.decoded() for d in handoffs(net, t1) if d.message == "handoff_request_t"]
    [reply] = [d.decoded() for d in handoffs(net, t1) if d.message == "handoff_reply_t"]
    assert isinstance(request, HandoffRequest) and not request.flags & HandoffFlags.T
    assert isinstance(reply, HandoffReply) and reply.flags & HandoffFlags.B
    t2 = net.wire.now
    to_fa3(n)
    net.wire.run(net.wire.now + 0.05)
    uplinks = [
        a
        for t, name, a in net.wire.actions
        if name == "fa3" and t >= t2 and isinstance(a, SetUplink)
    ]
    assert uplinks[:1] == [
        SetUplink(
            home_address=HOME,
            mode=UplinkMode.REVERSE_TUNNEL,
            tunnel_source=FA3_ADDR,
            tunnel_destination=HA_ADDR,
        )
    ]
