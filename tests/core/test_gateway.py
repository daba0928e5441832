"""Regional registration through a GFA (RFC 4857 §5, §6)."""

from __future__ import annotations

from typing import Any

from mip4.core.actions import DropReason, SendPacket, SetMobilityBinding, SetUplink, UplinkMode
from mip4.core.packets import ReceivedPacket
from mip4.wire.extensions import (
    GeneralizedAuthentication,
    HierarchicalForeignAgent,
    MobileHomeAuthentication,
)
from mip4.wire.icmp import AgentAdvertisement, MobilityAgentFlags
from mip4.wire.registration import (
    RegionalRegistrationReply,
    RegionalRegistrationRequest,
    RegistrationRequest,
    ReplyCode,
)
from tests.core.topology import (
    FA1_ADDR,
    FA2_ADDR,
    GFA_ADDR,
    HA_ADDR,
    HOME,
    MN_GFA_KEY,
    Net,
    build,
    gfa_config,
    mn_config,
    sa,
    with_gfa_option,
)


def regional_net(**mn: Any) -> Net:
    return build(
        mn=mn_config(mn_gfa={GFA_ADDR: sa(0x400, MN_GFA_KEY)}, **mn),
        fa1=with_gfa_option(1),
        fa2=with_gfa_option(2),
        gfa=gfa_config(),
    )


def test_fa_advertises_i_with_the_fa_then_the_gfa() -> None:
    net = regional_net()
    advert = next(s for s in net.wire.of("fa1", SendPacket) if s.is_icmp)
    maae = AgentAdvertisement.decode(advert.payload).mobility_extension
    assert maae is not None
    assert maae.flags & MobilityAgentFlags.I
    assert maae.care_of_addresses == (FA1_ADDR, GFA_ADDR)  # RFC 4857 §4.3


def test_home_registration_then_regional_registration_after_a_move() -> None:
    net = regional_net()
    net.wire.run(3.0)
    assert net.wire.messages() == [
        ("mn", "fa1", "registration_request"),
        ("fa1", "gfa", "registration_request"),
        ("gfa", "ha", "registration_request"),
        ("ha", "gfa", "registration_reply"),
        ("gfa", "fa1", "registration_reply"),
        ("fa1", "mn", "registration_reply"),
    ]
    # The HA registers the GFA as the care-of address; the GFA tunnels to FA1.
    assert net.wire.of("ha", SetMobilityBinding)[-1].care_of_addresses == (GFA_ADDR,)
    gfa_binding = net.wire.of("gfa", SetMobilityBinding)[-1]
    assert gfa_binding == SetMobilityBinding(
        home_address=HOME, care_of_addresses=(FA1_ADDR,), tunnel_source=GFA_ADDR
    )
    # The FA relays to the GFA with HFA + FA-FA; the GFA strips both before the HA.
    fa_relay = RegistrationRequest.decode(
        next(
            s for s in net.wire.of("fa1", SendPacket) if s.message == "registration_request"
        ).payload
    )
    assert [type(e) for e in fa_relay.extensions] == [
        MobileHomeAuthentication,
        HierarchicalForeignAgent,
        GeneralizedAuthentication,
    ]
    gfa_relay = RegistrationRequest.decode(
        next(
            s for s in net.wire.of("gfa", SendPacket) if s.message == "registration_request"
        ).payload
    )
    assert gfa_relay.care_of_address == GFA_ADDR
    assert [type(e) for e in gfa_relay.extensions] == [MobileHomeAuthentication]
    # FA1 reverse-tunnels to the GFA, the GFA on to the HA.
    assert net.wire.of("fa1", SetUplink)[-1].tunnel_destination == GFA_ADDR
    assert net.wire.of("gfa", SetUplink)[-1] == SetUplink(
        home_address=HOME,
        mode=UplinkMode.REVERSE_TUNNEL,
        tunnel_source=GFA_ADDR,
        tunnel_destination=HA_ADDR,
    )
    ha_programs = len(net.wire.of("ha", SetMobilityBinding))
    since = net.wire.now
    net.move_to("cell2")
    net.wire.run(6.0)
    assert net.wire.messages(since=since) == [
        ("mn", "fa2", "regional_registration_request"),
        ("fa2", "gfa", "regional_registration_request"),
        ("gfa", "fa2", "regional_registration_reply"),
        ("fa2", "mn", "regional_registration_reply"),
    ]
    # Nothing reached the HA; the GFA moved its tunnel to FA2.
    assert len(net.wire.of("ha", SetMobilityBinding)) == ha_programs
    assert net.wire.of("gfa", SetMobilityBinding)[-1].care_of_addresses == (FA2_ADDR,)
    rrq = RegionalRegistrationRequest.decode(
        next(s for s in net.wire.of("mn", SendPacket) if s.message.startswith("regional")).payload
    )
    assert (rrq.home_agent, rrq.care_of_address) == (GFA_ADDR, FA2_ADDR)
    assert isinstance(rrq.extensions[0], GeneralizedAuthentication)
    assert rrq.extensions[0].subtype == 3  # MN-GFA (RFC 4857 §11)
    reg = net.mn.registration
    assert reg is not None and reg.regional and reg.gfa == GFA_ADDR
    # RFC 4857 §6.3: the regional lifetime never exceeds what remains of the home one.
    home_left = reg.home_expires_at
    assert reg.expires_at is not None and home_left is not None and reg.expires_at <= home_left
    visitor = net.gfa.visitor(HOME)
    assert visitor is not None and visitor.current_fa == FA2_ADDR


def test_regional_request_without_home_registration_gets_193() -> None:
    net = regional_net()
    # A regional request as FA2 would relay it, with no home registration at the GFA.
    from mip4.core.registration import seal_generalized
    from mip4.wire.extensions import GeneralizedAuthSubtype

    request = RegionalRegistrationRequest(
        lifetime=100,
        home_address=HOME,
        home_agent=GFA_ADDR,
        care_of_address=FA2_ADDR,
        identification=(2_208_988_800 << 32) | 7,
    )
    request = seal_generalized(request, GeneralizedAuthSubtype.MN_GFA, sa(0x400, MN_GFA_KEY))
    request = seal_generalized(
        request, GeneralizedAuthSubtype.FA_FA, sa(0x300, b"fa-gfa-shared-key")
    )
    out = net.wire.deliver(
        "gfa",
        ReceivedPacket(
            interface="wired0",
            source=FA2_ADDR,
            destination=GFA_ADDR,
            protocol=17,
            payload=request.encode(),
            source_port=434,
            destination_port=434,
        ),
    )
    (send,) = [a for a in out if isinstance(a, SendPacket)]
    reply = RegionalRegistrationReply.decode(send.payload)
    assert reply.code == ReplyCode.GFA_NO_HOME_REGISTRATION
    assert net.gfa.visitor(HOME) is None


def test_gfa_drops_requests_from_unknown_or_unauthenticated_fas() -> None:
    net = regional_net()
    request = RegistrationRequest(
        lifetime=100,
        home_address=HOME,
        home_agent=HA_ADDR,
        care_of_address=GFA_ADDR,
        identification=1,
    )
    packet = ReceivedPacket(
        interface="wired0",
        source=FA2_ADDR,
        destination=GFA_ADDR,
        protocol=17,
        payload=request.encode(),
        source_port=434,
        destination_port=434,
    )
    assert [a for a in net.wire.deliver("gfa", packet) if isinstance(a, SendPacket)] == []
    assert (
        net.gfa.drops[DropReason.MISSING_AUTHENTICATION]
        + net.gfa.drops[DropReason.BAD_AUTHENTICATOR]
        == 1
    )
    stranger = ReceivedPacket(
        interface="wired0",
        source=HA_ADDR,
        destination=GFA_ADDR,
        protocol=17,
        payload=request.encode(),
        source_port=434,
        destination_port=434,
    )
    net.wire.deliver("gfa", stranger)
    assert net.gfa.drops[DropReason.NO_SECURITY_ASSOCIATION] == 1


def test_regional_binding_expires_and_home_reregistration_refreshes_both() -> None:
    net = regional_net(registration_lifetime=20)
    net.wire.run(2.0)
    net.move_to("cell2")
    net.wire.run(6.0)
    assert net.mn.registration is not None and net.mn.registration.regional
    net.wire.run(30.0)
    # Re-registration is a home registration via FA2 (RFC 4857 §5.1).
    reg = net.mn.registration
    assert reg is not None and not reg.regional and reg.agent == FA2_ADDR
    assert net.wire.of("gfa", SetMobilityBinding)[-1].care_of_addresses == (FA2_ADDR,)
    assert net.ha.bindings(HOME)[0].care_of_address == GFA_ADDR
    assert sum(net.gfa.drops.values()) == 0
