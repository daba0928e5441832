"""Sample traffic: one raw IPv4 packet for every message the stack speaks.

:func:`sample_frames` builds a deterministic, realistic capture of a low-latency handoff
network (addresses only from the benchmarking range 198.18.0.0/15, RFC 2544 / RFC 5735):
every packet has correct IPv4, UDP, ICMP and tunnel checksums and real authenticators
(HMAC-MD5 for Mobile IP, an HMAC-SHA1-96 ESP ICV) under the fixed demo keys below (SPIs
above the reserved 0-255, RFC 5944 §1.6, RFC 4303 §2.1). ``make demo`` writes
them with :func:`write_sample_pcap` and decodes the result with ``mip4 decode``; the tests
of the decoder, the tshark cross-checks and the Lua dissector read the same frames.

The cast::

    HA   198.18.0.1    home agent; the MN's home network is 198.18.0.0/24
    MN   198.18.0.10   mobile node (home address), MAC 02:00:00:00:00:0a
    aFA  198.18.1.1    anchor FA of a three-party handoff (RFC 4881 §4.2)
    oFA  198.18.2.1    old FA; nFA 198.18.3.1 new FA (MAC 02:00:00:00:03:01)
    GFA  198.18.4.1    gateway FA of the regional registration (RFC 4857)
    CN   198.18.5.100  correspondent node; the router 198.18.1.254 reports an error
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

from mip4.wire.auth import seal
from mip4.wire.esp import EspMode, EspPacket, EspSecurityAssociation, protect_ipv4_tunnel
from mip4.wire.extensions import (
    GeneralizedAuthentication,
    GeneralizedAuthSubtype,
    LinkLayerAddress,
    MobileHomeAuthentication,
)
from mip4.wire.handoff import HandoffFlags, HandoffReply, HandoffRequest
from mip4.wire.icmp import (
    AgentAdvertisement,
    AgentSolicitation,
    DestinationUnreachable,
    MobilityAgentAdvertisement,
    MobilityAgentFlags,
    Padding,
    PrefixLengths,
    RouterAddress,
    RouterDiscoveryLinkLayerAddress,
)
from mip4.wire.ip import PROTO_ICMP, PROTO_UDP, UdpDatagram, build_ipv4
from mip4.wire.lla import EthernetMac, SolicitedIpv4Address
from mip4.wire.registration import (
    RegionalRegistrationReply,
    RegionalRegistrationRequest,
    RegistrationFlags,
    RegistrationReply,
    RegistrationRequest,
    ReplyCode,
)
from mip4.wire.tunnel import Encapsulation, decapsulate, encapsulate

MOBILE_IP_PORT = 434  # RFC 5944 §1.8
MN_PORT = 49152  # the MN's (ephemeral) source port for its requests
FA_PORT = 49153  # an FA's source port for the requests it relays or originates


@dataclass(frozen=True, slots=True)
class DemoKey:
    """A fixed demo security association: SPI and key (never use these outside samples)."""

    spi: int
    key: bytes


MN_HA_KEY = DemoKey(spi=0x1001, key=b"mip4-demo-mn-ha!")  # HMAC-MD5, RFC 5944 §3.5
FA_FA_KEY = DemoKey(spi=0x2002, key=b"mip4-demo-fa-fa!")  # HMAC-MD5, RFC 4857 §11
MN_GFA_KEY = DemoKey(spi=0x3003, key=b"mip4-demo-mn-gfa")  # HMAC-MD5, RFC 4857 §11
ESP_KEY = DemoKey(spi=0x4004, key=b"mip4-demo-esp-sha1-k")  # HMAC-SHA1-96, RFC 4881 §3.4

HA = IPv4Address("198.18.0.1")
MN_HOME = IPv4Address("198.18.0.10")
AFA = IPv4Address("198.18.1.1")
OFA = IPv4Address("198.18.2.1")
NFA = IPv4Address("198.18.3.1")
GFA = IPv4Address("198.18.4.1")
CN = IPv4Address("198.18.5.100")
ROUTER = IPv4Address("198.18.1.254")
UNSPECIFIED = IPv4Address("0.0.0.0")
ALL_SYSTEMS = IPv4Address("224.0.0.1")  # RFC 1256 advertisement address
ALL_MOBILITY_AGENTS = IPv4Address("224.0.0.11")  # RFC 5944 §2.3.1

MN_MAC = bytes.fromhex("02000000000a")
NFA_MAC = bytes.fromhex("020000000301")
OFA_MAC = bytes.fromhex("020000000201")

# 2024-01-01T00:00:00Z as an NTP timestamp (RFC 5944 §5.7): Identification values below.
_NTP_BASE = (1_704_067_200 + 2_208_988_800) << 32
SAMPLE_EPOCH = 1_704_067_200.0  # pcap timestamp of the first frame
SAMPLE_INTERVAL = 0.010  # seconds between frames


@dataclass(frozen=True, slots=True)
class SampleFrame:
    """One sample packet: a name, where the RFC defines it, the IPv4 bytes and the message.

    ``message`` is the wire object the packet carries (for tunnelled or ESP packets, the
    object of the outermost Mobile IP layer; see each frame's ``note``).
    """

    name: str
    rfc: str
    packet: bytes
    message: object
    note: str = ""


def _ident(n: int) -> int:
    """A deterministic Identification: NTP 2024-01-01 plus ``n`` fractional steps."""
    return _NTP_BASE | (n << 16)


def _udp(
    src: IPv4Address,
    dst: IPv4Address,
    sport: int,
    dport: int,
    payload: bytes,
    *,
    ttl: int,
    ip_id: int,
) -> bytes:
    udp = UdpDatagram(source_port=sport, destination_port=dport, payload=payload)
    return build_ipv4(src, dst, PROTO_UDP, udp.encode(src, dst), ttl=ttl, identification=ip_id)


def _mn_ha(message: RegistrationRequest | RegistrationReply) -> RegistrationRequest:
    template = MobileHomeAuthentication(spi=MN_HA_KEY.spi, authenticator=b"")
    return seal(message, template, MN_HA_KEY.key)  # type: ignore[return-value]


def _generalized(message: object, subtype: GeneralizedAuthSubtype, key: DemoKey) -> object:
    template = GeneralizedAuthentication(subtype=subtype, spi=key.spi, authenticator=b"")
    return seal(message, template, key.key)  # type: ignore[type-var]


def _fa_fa(message: HandoffRequest | HandoffReply) -> object:
    return _generalized(message, GeneralizedAuthSubtype.FA_FA, FA_FA_KEY)


def _mn_lla() -> LinkLayerAddress:
    return LinkLayerAddress(value=EthernetMac(mac=MN_MAC))


def control_frames() -> list[SampleFrame]:
    """The UDP 434 control messages (registration, regional registration, handoff)."""
    frames: list[SampleFrame] = []

    def add(name: str, rfc: str, message: object, packet: bytes, note: str = "") -> None:
        frames.append(SampleFrame(name=name, rfc=rfc, packet=packet, message=message, note=note))

    # Low-latency Registration Request (RFC 4881 §3.6, §9): MN -> nFA through the oFA's
    # link, MN-HA authentication, then the FA-only LLA with the MN's MAC (RFC 5944 §3.2
    # order: the nFA strips it before relaying). T set, so TTL 255 (RFC 3024 §3.1).
    rrq = RegistrationRequest(
        flags=RegistrationFlags.T,
        lifetime=1800,
        home_address=MN_HOME,
        home_agent=HA,
        care_of_address=NFA,
        identification=_ident(1),
    )
    rrq = _mn_ha(rrq)
    rrq = dataclasses.replace(rrq, extensions=(*rrq.extensions, _mn_lla()))
    add(
        "registration_request",
        "RFC 5944 §3.3; RFC 4881 §3.6",
        rrq,
        _udp(MN_HOME, NFA, MN_PORT, MOBILE_IP_PORT, rrq.encode(), ttl=255, ip_id=0x0101),
        "low-latency RRQ: MN-HA auth, then LLA 138 (MN MAC) for the nFA",
    )

    rrp = RegistrationReply(
        code=ReplyCode.ACCEPTED,
        lifetime=1800,
        home_address=MN_HOME,
        home_agent=HA,
        identification=_ident(1),
    )
    rrp_sealed = _mn_ha(rrp)
    add(
        "registration_reply",
        "RFC 5944 §3.4",
        rrp_sealed,
        _udp(HA, NFA, MOBILE_IP_PORT, FA_PORT, rrp_sealed.encode(), ttl=64, ip_id=0x0102),
        "HA -> nFA, accepted, MN-HA auth",
    )

    mn_gfa = GeneralizedAuthSubtype.MN_GFA
    rreg = _generalized(
        RegionalRegistrationRequest(
            flags=RegistrationFlags.T,
            lifetime=600,
            home_address=MN_HOME,
            home_agent=GFA,
            care_of_address=NFA,
            identification=_ident(2),
        ),
        mn_gfa,
        MN_GFA_KEY,
    )
    assert isinstance(rreg, RegionalRegistrationRequest)
    add(
        "regional_registration_request",
        "RFC 4857 §10.1",
        rreg,
        _udp(MN_HOME, NFA, MN_PORT, MOBILE_IP_PORT, rreg.encode(), ttl=255, ip_id=0x0103),
        "MN -> nFA for the GFA, MN-GFA auth (36/3)",
    )
    rrep = _generalized(
        RegionalRegistrationReply(
            code=ReplyCode.ACCEPTED,
            lifetime=600,
            home_address=MN_HOME,
            home_agent=GFA,
            identification=_ident(2),
        ),
        mn_gfa,
        MN_GFA_KEY,
    )
    assert isinstance(rrep, RegionalRegistrationReply)
    add(
        "regional_registration_reply",
        "RFC 4857 §10.2",
        rrep,
        _udp(GFA, NFA, MOBILE_IP_PORT, FA_PORT, rrep.encode(), ttl=64, ip_id=0x0104),
        "GFA -> nFA, accepted, MN-GFA auth (36/3)",
    )

    fh = HandoffFlags
    handoffs: list[tuple[str, str, HandoffRequest | HandoffReply, IPv4Address, IPv4Address]] = [
        # Two-party, source trigger at the oFA (RFC 4881 §4.1): BET offered both ways.
        (
            "handoff_request_s",
            "RFC 4881 §4.1, §4.5",
            HandoffRequest(
                flags=fh.H | fh.T,
                lifetime=10,
                mn_home_address=MN_HOME,
                ha_address=HA,
                identification=_ident(3),
                extensions=(_mn_lla(),),
            ),
            OFA,
            NFA,
        ),
        (
            "handoff_reply_s",
            "RFC 4881 §4.1, §4.6",
            HandoffReply(
                flags=fh.H | fh.T,
                lifetime=10,
                mn_home_address=UNSPECIFIED,
                ha_address=UNSPECIFIED,
                identification=_ident(3),
            ),
            NFA,
            OFA,
        ),
        # Two-party, target trigger at the nFA: it knows only the MN's MAC (§4.5).
        (
            "handoff_request_t",
            "RFC 4881 §4.1, §4.5",
            HandoffRequest(
                flags=fh.N | fh.T,
                lifetime=10,
                mn_home_address=UNSPECIFIED,
                ha_address=UNSPECIFIED,
                identification=_ident(4),
                extensions=(_mn_lla(),),
            ),
            NFA,
            OFA,
        ),
        (
            "handoff_reply_t",
            "RFC 4881 §4.1, §4.6",
            HandoffReply(
                flags=fh.N | fh.T,
                lifetime=10,
                mn_home_address=MN_HOME,
                ha_address=HA,
                identification=_ident(4),
                extensions=(_mn_lla(),),
            ),
            OFA,
            NFA,
        ),
        # Renewal of the BET (§4.3).
        (
            "handoff_request_r",
            "RFC 4881 §4.3, §4.5",
            HandoffRequest(
                flags=fh.R,
                lifetime=10,
                mn_home_address=MN_HOME,
                ha_address=HA,
                identification=_ident(5),
                extensions=(_mn_lla(),),
            ),
            OFA,
            NFA,
        ),
        (
            "handoff_reply_r",
            "RFC 4881 §4.3, §4.6",
            HandoffReply(
                flags=fh.R,
                lifetime=10,
                mn_home_address=MN_HOME,
                ha_address=HA,
                identification=_ident(5),
            ),
            NFA,
            OFA,
        ),
        # Three-party: oFA -> nFA HTT naming the aFA; tunnel bits clear (§4.2, §4.7).
        (
            "handoff_to_third_request",
            "RFC 4881 §4.2, §4.7",
            HandoffRequest(
                flags=fh.H | fh.N,
                lifetime=10,
                mn_home_address=MN_HOME,
                ha_address=HA,
                identification=_ident(6),
                extensions=_htt_extensions(),
            ),
            OFA,
            NFA,
        ),
        (
            "handoff_to_third_reply",
            "RFC 4881 §4.2, §4.7",
            HandoffReply(
                flags=fh.H | fh.N,
                lifetime=10,
                mn_home_address=MN_HOME,
                ha_address=HA,
                identification=_ident(7),
                extensions=_htt_extensions(),
            ),
            OFA,
            NFA,
        ),
    ]
    for index, (name, rfc, message, src, dst) in enumerate(handoffs):
        sealed = _fa_fa(message)
        assert isinstance(sealed, HandoffRequest | HandoffReply)
        is_request = isinstance(sealed, HandoffRequest)
        sport, dport = (FA_PORT, MOBILE_IP_PORT) if is_request else (MOBILE_IP_PORT, FA_PORT)
        packet = _udp(src, dst, sport, dport, sealed.encode(), ttl=64, ip_id=0x0110 + index)
        add(name, rfc, sealed, packet, "FA-FA auth (36/2) last")
    return frames


def agent_advertisement(
    agent: IPv4Address, sequence_number: int, *, lla_mac: bytes | None = None
) -> AgentAdvertisement:
    """An FA's Agent Advertisement (RFC 5944 §2.1): the FA as router and as care-of address,
    F and T (reverse tunnelling, RFC 3024) set; with ``lla_mac``, the LLA 140 that makes it a
    PrRtAdv (RFC 4881 §3.3, §3.7)."""
    maae = MobilityAgentAdvertisement(
        sequence_number=sequence_number,
        registration_lifetime=1800,
        flags=MobilityAgentFlags.R | MobilityAgentFlags.F | MobilityAgentFlags.T,
        care_of_addresses=(agent,),
    )
    extensions: tuple[object, ...] = (maae, PrefixLengths(prefix_lengths=(24,)))
    if lla_mac is not None:
        extensions = (*extensions, RouterDiscoveryLinkLayerAddress(value=EthernetMac(mac=lla_mac)))
    advertisement = AgentAdvertisement(
        lifetime=3,  # RFC 1256: 3 x the (1 s) advertisement interval
        router_addresses=(RouterAddress(address=agent, preference_level=0),),
        extensions=extensions,  # type: ignore[arg-type]
    )
    if len(advertisement.encode()) % 2:  # RFC 5944 §2.1.3: pad to an even length
        advertisement = dataclasses.replace(advertisement, extensions=(*extensions, Padding()))  # type: ignore[arg-type]
    return advertisement


def icmp_frames() -> list[SampleFrame]:
    """Agent discovery: solicitation, advertisement, PrRtSol, the ESP-protected inter-FA
    advertisement and the PrRtAdv (TTL 1 on the access link)."""
    solicitation = AgentSolicitation()
    advertisement = agent_advertisement(OFA, 256)
    prrtsol = AgentSolicitation(
        extensions=(RouterDiscoveryLinkLayerAddress(value=SolicitedIpv4Address(address=NFA)),)
    )
    prrtadv = agent_advertisement(NFA, 512, lla_mac=NFA_MAC)
    # RFC 4881 §3.4.2: the nFA's advertisement to the MN, tunnelled to the oFA in tunnel-mode
    # ESP (the TTL-1 rule relaxed inside the tunnel); HMAC-SHA1-96 (RFC 4881 §3.4, RFC 2404).
    esp_sa = EspSecurityAssociation(spi=ESP_KEY.spi, auth_key=ESP_KEY.key, mode=EspMode.TUNNEL)
    inner = build_ipv4(NFA, MN_HOME, PROTO_ICMP, prrtadv.encode(), ttl=64, identification=0x0005)
    esp = protect_ipv4_tunnel(esp_sa, 1, NFA, OFA, inner, ttl=64, identification=0x0006)
    return [
        SampleFrame(
            name="agent_solicitation",
            rfc="RFC 5944 §2.2",
            packet=_icmp(MN_HOME, ALL_MOBILITY_AGENTS, solicitation.encode(), ip_id=0x0001),
            message=AgentSolicitation.decode(solicitation.encode()),
            note="MN -> all mobility agents, TTL 1",
        ),
        SampleFrame(
            name="agent_advertisement",
            rfc="RFC 5944 §2.1",
            packet=_icmp(OFA, ALL_SYSTEMS, advertisement.encode(), ip_id=0x0002),
            message=AgentAdvertisement.decode(advertisement.encode()),
            note="oFA -> all systems, MAAE (R F T, CoA oFA) and Prefix-Lengths, TTL 1",
        ),
        SampleFrame(
            name="proxy_router_solicitation",
            rfc="RFC 4881 §3.3, §9.5",
            packet=_icmp(MN_HOME, OFA, prrtsol.encode(), ip_id=0x0003),
            message=AgentSolicitation.decode(prrtsol.encode()),
            note="PrRtSol: MN -> oFA, LLA 140 sub-type 5 naming the nFA, TTL 1",
        ),
        SampleFrame(
            name="esp_inter_fa_advertisement",
            rfc="RFC 4881 §3.4.2; RFC 4303 §3.1.2",
            packet=esp,
            message=EspPacket.decode(esp[20:]),
            note="nFA -> oFA, tunnel-mode ESP (SPI 0x4004, sequence 1) around the nFA's "
            "advertisement to the MN",
        ),
        SampleFrame(
            name="proxy_router_advertisement",
            rfc="RFC 4881 §3.3, §3.7",
            packet=_icmp(NFA, MN_HOME, prrtadv.encode(), ip_id=0x0004),
            message=AgentAdvertisement.decode(prrtadv.encode()),
            note="PrRtAdv relayed by the oFA: IP source nFA, LLA 140 with the nFA's MAC, TTL 1",
        ),
    ]


def _icmp(src: IPv4Address, dst: IPv4Address, message: bytes, *, ip_id: int) -> bytes:
    # RFC 5944 §2.1, §2.2: advertisements and solicitations are sent with TTL 1.
    return build_ipv4(src, dst, PROTO_ICMP, message, ttl=1, identification=ip_id)


CBR_PORT = 5004  # the CBR flows of the simulator (G.711-like: 160-byte payload)
GRE_KEY = 0x0000_1001  # RFC 2890 key of the reverse tunnel nFA -> HA


def _cbr(src: IPv4Address, dst: IPv4Address, sequence: int, *, ttl: int) -> bytes:
    """A user datagram of the CBR flow: sequence number, then zero padding to 160 bytes."""
    payload = sequence.to_bytes(4, "big") + bytes(156)
    return _udp(src, dst, CBR_PORT, CBR_PORT, payload, ttl=ttl, ip_id=0x2000 + sequence)


def tunnel_frames() -> list[SampleFrame]:
    """The data plane: user packets tunnelled by the HA (RFC 5944 §4.1) and reverse-tunnelled
    by the FA (RFC 3024), one per encapsulation, and an ICMP error from inside a tunnel."""
    downlink = _cbr(CN, MN_HOME, 1, ttl=63)  # the HA forwards it: inner TTL decremented
    uplink = _cbr(MN_HOME, CN, 2, ttl=64)
    ip_in_ip = encapsulate(Encapsulation.IP_IN_IP, downlink, HA, NFA, identification=0x3001)
    minimal = encapsulate(Encapsulation.MINIMAL, _cbr(CN, MN_HOME, 3, ttl=63), HA, NFA)
    gre = encapsulate(
        Encapsulation.GRE,
        uplink,
        NFA,
        HA,
        identification=0x3003,
        gre_key=GRE_KEY,
        gre_sequence_number=1,
    )
    # The HA still tunnels to the old care-of address after the aFA left: the last router
    # answers host unreachable, quoting the outer header and 64 bits (RFC 792, RFC 2003 §4).
    stale = encapsulate(
        Encapsulation.IP_IN_IP, _cbr(CN, MN_HOME, 4, ttl=63), HA, AFA, identification=0x3004
    )
    unreachable = DestinationUnreachable.about(stale, code=1)
    return [
        SampleFrame(
            name="ip_in_ip_tunnel",
            rfc="RFC 2003 §3; RFC 5944 §4.1",
            packet=ip_in_ip,
            message=decapsulate(ip_in_ip),
            note="HA -> nFA, inner CN -> MN user datagram",
        ),
        SampleFrame(
            name="minimal_encapsulation_tunnel",
            rfc="RFC 2004 §3; RFC 5944 §4.1",
            packet=minimal,
            message=decapsulate(minimal),
            note="HA -> nFA, forwarding header with S set (original source CN)",
        ),
        SampleFrame(
            name="gre_reverse_tunnel",
            rfc="RFC 2784 §2, RFC 2890 §2; RFC 3024 §5",
            packet=gre,
            message=decapsulate(gre),
            note="nFA -> HA reverse tunnel with key and sequence number, inner MN -> CN",
        ),
        SampleFrame(
            name="destination_unreachable",
            rfc="RFC 792; RFC 2003 §4",
            packet=build_ipv4(
                ROUTER, HA, PROTO_ICMP, unreachable.encode(), ttl=64, identification=0x3005
            ),
            message=DestinationUnreachable.decode(unreachable.encode()),
            note="router -> HA: host unreachable for a tunnel to the old care-of address",
        ),
    ]


def _htt_extensions() -> tuple[LinkLayerAddress, ...]:
    """RFC 4881 §4.7 order: LLA sub-type 5 with the aFA's address, then the MN's LLA."""
    return (LinkLayerAddress(value=SolicitedIpv4Address(address=AFA)), _mn_lla())


def sample_frames() -> list[SampleFrame]:
    """Every sample packet, in the order of the capture (deterministic)."""
    return [*icmp_frames(), *control_frames(), *tunnel_frames()]


def write_sample_pcap(path: str | Path) -> list[SampleFrame]:
    """Write :func:`sample_frames` as a raw-IPv4 pcap (linktype 101) at fixed timestamps."""
    from mip4.pcap import write_pcap  # the pcap layer sits above the samples

    frames = sample_frames()
    write_pcap(
        path,
        [(SAMPLE_EPOCH + i * SAMPLE_INTERVAL, frame.packet) for i, frame in enumerate(frames)],
    )
    return frames


__all__ = [
    "ESP_KEY",
    "FA_FA_KEY",
    "MN_GFA_KEY",
    "MN_HA_KEY",
    "DemoKey",
    "SampleFrame",
    "sample_frames",
    "write_sample_pcap",
]
