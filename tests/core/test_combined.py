"""The combined method's nFA timer (RFC 4881 §5), hand-wired.

The timer starts on L2-TT or on the low-latency request carrying an LLA sub-type 7 (not
restarted by the request after an L2-TT), stops on the Registration Reply, and on expiry
the nFA starts POST-REGISTRATION (an HRqst(t)) towards the oFA; the BET it builds ends when
a later registration succeeds. The MN's low-latency request names the oFA.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from mip4.core.actions import SendPacket, SetForwardTunnel
from mip4.core.combined import COMBINED_TIMER, combined_lla
from mip4.core.config import MnPreRegistrationConfig
from mip4.core.post_registration import Phase
from mip4.core.security import ntp_timestamp
from mip4.core.triggers import FaIdentifier, LinkDown, LinkUp, SourceTrigger, TargetTrigger
from mip4.wire.extensions import LinkLayerAddress
from mip4.wire.lla import FaIpv4Address
from mip4.wire.messages import decode_control_message
from mip4.wire.registration import RegistrationRequest
from tests.core.test_post_registration import FA_FA_KEY, FA_FA_SPI, MN_ID, post
from tests.core.test_pre_registration import low_latency_request, pre
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


def combined_net(**timer: Any) -> Net:
    shared = sa(FA_FA_SPI, FA_FA_KEY)
    return build(
        mn=mn_config(pre_registration=MnPreRegistrationConfig(), combined_method=True),
        fa1=fa_config(
            1,
            pre_registration=pre(1),
            post_registration=post(neighbours={FA2_ADDR: shared}, combined=True, **timer),
        ),
        fa2=fa_config(
            2,
            pre_registration=pre(2),
            post_registration=post(neighbours={FA1_ADDR: shared}, combined=True, **timer),
        ),
    )


def registered(net: Net) -> float:
    net.wire.trigger("fa1", LinkUp(interface="access0", mn=MN_ID))
    net.wire.run(0.5)
    assert net.mn.registration is not None and net.mn.registration.agent == FA1_ADDR
    return net.wire.now


def with_old_fa(packet: Any, old: Any = FA1_ADDR) -> Any:
    request = decode_control_message(packet.payload)
    assert isinstance(request, RegistrationRequest)
    lla7 = LinkLayerAddress(value=FaIpv4Address(old))
    request = dataclasses.replace(request, extensions=(*request.extensions, lla7))
    return dataclasses.replace(packet, payload=request.encode())


def handoff_messages(net: Net, since: float) -> list[tuple[str, str, str]]:
    return [
        (d.sender, d.receiver, d.message)
        for d in net.wire.deliveries
        if d.time >= since and d.message.startswith("handoff")
    ]


def test_the_timer_starts_on_the_request_and_stops_on_the_reply() -> None:
    net = combined_net()
    t0 = registered(net)
    ident = ntp_timestamp(t0, random.Random(0))
    out = net.wire.deliver("fa2", with_old_fa(low_latency_request(identification=ident)))
    assert [a.event for a in out if getattr(a, "event", "") == "combined-timer-started"]
    timer = net.fa2.fallback(HOME)
    assert timer is not None and timer.old_fa == FA1_ADDR and timer.link_address == MN_MAC
    assert timer.deadline == t0 + 1.0  # §5: default 1 second
    net.wire.run(t0 + 2.0)  # the HA answers in 2 ms: the timer stops
    assert net.fa2.fallback(HOME) is None
    assert (COMBINED_TIMER, HOME) not in net.wire.pending_timers("fa2")
    assert handoff_messages(net, t0) == []  # PRE-REGISTRATION completed: no POST


def test_a_lost_reply_makes_the_nfa_build_a_tunnel_from_the_ofa() -> None:
    net = combined_net()
    t0 = registered(net)
    net.wire.lose = lambda sender, send: send.message == "registration_reply" and sender == "ha"
    ident = ntp_timestamp(t0, random.Random(0))
    net.wire.deliver("fa2", with_old_fa(low_latency_request(identification=ident)))
    net.wire.trigger("fa1", LinkDown(interface="access0", mn=MN_ID))
    net.move_to("cell2")
    net.wire.trigger("fa2", LinkUp(interface="access0", mn=MN_ID))
    net.wire.run(t0 + 0.999)
    assert handoff_messages(net, t0) == []
    net.wire.run(t0 + 1.1)
    # §5: on expiry, POST-REGISTRATION towards the oFA of the LLA sub-type 7.
    assert handoff_messages(net, t0) == [
        ("fa2", "fa1", "handoff_request_t"),
        ("fa1", "fa2", "handoff_reply_t"),
    ]
    assert net.fa2.bet(HOME) is not None and net.fa2.bet(HOME).phase is Phase.DELIVERING
    # The MN already left FA1: it tunnels at once (§4.1: the HRply acts as the trigger).
    assert SetForwardTunnel(home_address=HOME, peer=FA2_ADDR, tunnel_source=FA1_ADDR) in (
        net.wire.of("fa1", SetForwardTunnel, since=t0)
    )


def test_l2_tt_starts_the_timer_and_a_later_request_does_not_restart_it() -> None:
    net = combined_net(combined_timer=0.5)
    t0 = registered(net)
    net.wire.trigger(
        "fa2", TargetTrigger(mn=MN_ID, old_fa=FaIdentifier(address=FA1_ADDR))
    )  # PRE-REGISTRATION's tunnelled advertisement goes out too
    assert [s.message for s in net.wire.of("fa2", SendPacket, since=t0)] == [
        "tunnelled_agent_advertisement"
    ]
    first = net.fa2.fallback(HOME)
    assert first is not None and first.deadline == t0 + 0.5
    net.wire.run(t0 + 0.2)
    ident = ntp_timestamp(net.wire.now, random.Random(0))
    net.wire.lose = lambda sender, send: send.message == "registration_reply" and sender == "ha"
    net.wire.deliver("fa2", with_old_fa(low_latency_request(identification=ident)))
    assert net.fa2.fallback(HOME).deadline == t0 + 0.5  # not restarted
    net.wire.run(t0 + 0.6)
    assert ("fa2", "fa1", "handoff_request_t") in handoff_messages(net, t0)


def test_l2_st_drives_pre_registration_only() -> None:
    net = combined_net()
    t0 = registered(net)
    net.wire.trigger("fa1", SourceTrigger(mn=MN_ID, new_fa=FaIdentifier(address=FA2_ADDR)))
    net.wire.run(t0 + 0.01)
    assert handoff_messages(net, t0) == []
    assert "proxy_router_advertisement" in [
        s.message for s in net.wire.of("fa1", SendPacket, since=t0)
    ]


def test_the_mns_low_latency_request_names_the_ofa() -> None:
    net = combined_net()
    t0 = registered(net)
    net.wire.trigger("fa1", SourceTrigger(mn=MN_ID, new_fa=FaIdentifier(address=FA2_ADDR)))
    net.wire.run(t0 + 0.0015)
    [rrq] = [
        s
        for s in net.wire.of("mn", SendPacket, since=t0)
        if s.message == "registration_request" and s.destination == FA2_ADDR
    ]
    request = decode_control_message(rrq.payload)
    assert isinstance(request, RegistrationRequest)
    assert combined_lla(request) == (FA1_ADDR, MN_MAC)  # §5: LLA 7 and the MN's LLA
