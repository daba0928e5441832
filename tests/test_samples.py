"""The sample traffic: every message once, checksums and authenticators right, deterministic."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from mip4 import samples
from mip4.pcap import read_capture
from mip4.samples import SampleFrame, sample_frames, write_sample_pcap
from mip4.wire.auth import find_authenticator, verify
from mip4.wire.errors import DecodeError
from mip4.wire.esp import EspMode, EspPacket, EspSecurityAssociation, unprotect_ipv4_tunnel
from mip4.wire.extensions import (
    GeneralizedAuthentication,
    GeneralizedAuthSubtype,
    LinkLayerAddress,
    MobileHomeAuthentication,
)
from mip4.wire.handoff import HandoffReply, HandoffRequest, HandoffVariant
from mip4.wire.icmp import AgentAdvertisement, AgentSolicitation, decode_icmp
from mip4.wire.ip import (
    PROTO_ESP,
    PROTO_ICMP,
    PROTO_UDP,
    IPv4Header,
    IPv4Packet,
    UdpDatagram,
    internet_checksum,
)
from mip4.wire.lla import EthernetMac, SolicitedIpv4Address
from mip4.wire.messages import decode_control_message
from mip4.wire.registration import (
    RegionalRegistrationReply,
    RegionalRegistrationRequest,
    RegistrationFlags,
    RegistrationReply,
    RegistrationRequest,
)
from mip4.wire.tunnel import Decapsulated, Encapsulation, decapsulate

BENCHMARK_RANGE = IPv4Network("198.18.0.0/15")
PROTOCOL_MULTICAST = {IPv4Address("224.0.0.1"), IPv4Address("224.0.0.11")}

EXPECTED_NAMES = [
    "agent_solicitation",
    "agent_advertisement",
    "proxy_router_solicitation",
    "esp_inter_fa_advertisement",
    "proxy_router_advertisement",
    "registration_request",
    "registration_reply",
    "regional_registration_request",
    "regional_registration_reply",
    "handoff_request_s",
    "handoff_reply_s",
    "handoff_request_t",
    "handoff_reply_t",
    "handoff_request_r",
    "handoff_reply_r",
    "handoff_to_third_request",
    "handoff_to_third_reply",
    "ip_in_ip_tunnel",
    "minimal_encapsulation_tunnel",
    "gre_reverse_tunnel",
    "destination_unreachable",
]

FRAMES = sample_frames()
BY_NAME = {frame.name: frame for frame in FRAMES}


def udp_payload(frame: SampleFrame) -> tuple[IPv4Header, UdpDatagram]:
    packet = IPv4Packet.decode(frame.packet)
    assert packet.header.protocol == PROTO_UDP
    udp = UdpDatagram.decode(packet.payload, packet.header.source, packet.header.destination)
    return packet.header, udp


def test_one_of_every_message_in_a_fixed_order() -> None:
    assert [frame.name for frame in FRAMES] == EXPECTED_NAMES
    assert all(frame.rfc.startswith("RFC ") for frame in FRAMES)


def test_deterministic(tmp_path: Path) -> None:
    again = sample_frames()
    assert [f.packet for f in again] == [f.packet for f in FRAMES]
    first, second = tmp_path / "a.pcap", tmp_path / "b.pcap"
    write_sample_pcap(first)
    write_sample_pcap(second)
    assert first.read_bytes() == second.read_bytes()
    read = list(read_capture(first))
    assert [f.ip for f in read] == [f.packet for f in FRAMES]
    times = [f.time for f in read]
    assert times[0] == samples.SAMPLE_EPOCH
    assert times == sorted(times) and len(set(times)) == len(times)


@pytest.mark.parametrize("frame", FRAMES, ids=lambda f: f.name)
def test_checksums_verify(frame: SampleFrame) -> None:
    packet = IPv4Packet.decode(frame.packet)  # verifies the header checksum
    assert packet.header.total_length == len(frame.packet)
    if packet.header.protocol == PROTO_UDP:
        _, udp = udp_payload(frame)
        assert udp.checksum  # filled in (RFC 5944 §3.6.1.1 SHOULD), and verified by decode
    elif packet.header.protocol == PROTO_ICMP:
        assert internet_checksum(packet.payload) == 0
        assert decode_icmp(packet.payload).to_dict() == frame.message.to_dict()  # type: ignore[attr-defined]
    elif packet.header.protocol == PROTO_ESP:
        assert isinstance(frame.message, EspPacket)
        assert frame.message.encode() == packet.payload
    else:
        assert isinstance(frame.message, Decapsulated)
        assert decapsulate(frame.packet) == frame.message


@pytest.mark.parametrize("frame", FRAMES, ids=lambda f: f.name)
def test_addresses_only_from_the_benchmarking_range(frame: SampleFrame) -> None:
    def check(header: IPv4Header) -> None:
        for address in (header.source, header.destination):
            assert address in BENCHMARK_RANGE or address in PROTOCOL_MULTICAST, address

    header = IPv4Header.decode(frame.packet)
    check(header)
    if isinstance(frame.message, Decapsulated):
        check(IPv4Header.decode(frame.message.inner))
    text = str(frame.message.to_dict() if hasattr(frame.message, "to_dict") else frame.message)
    for word in text.replace("'", " ").replace(",", " ").split():
        if word.count(".") == 3 and word.replace(".", "").isdigit():
            address = IPv4Address(word)
            assert address in BENCHMARK_RANGE or address == IPv4Address("0.0.0.0"), word


CONTROL = [f for f in FRAMES if IPv4Header.decode(f.packet).protocol == PROTO_UDP]


@pytest.mark.parametrize("frame", CONTROL, ids=lambda f: f.name)
def test_control_messages_decode_and_authenticate(frame: SampleFrame) -> None:
    header, udp = udp_payload(frame)
    assert 434 in (udp.source_port, udp.destination_port)
    message = decode_control_message(udp.payload)
    assert message == frame.message
    assert message.encode() == udp.payload
    if isinstance(message, RegionalRegistrationRequest | RegionalRegistrationReply):
        key, cls, subtype = samples.MN_GFA_KEY, GeneralizedAuthentication, 3
    elif isinstance(message, RegistrationRequest | RegistrationReply):
        key, cls, subtype = samples.MN_HA_KEY, MobileHomeAuthentication, None
    else:
        key, cls, subtype = samples.FA_FA_KEY, GeneralizedAuthentication, 2
    index = find_authenticator(message, cls, subtype)  # type: ignore[arg-type]
    assert index is not None
    auth = message.extensions[index]
    assert isinstance(auth, cls) and auth.spi == key.spi and auth.spi > 255
    assert verify(message, index, key.key)
    assert not verify(message, index, b"not the demo key")
    # RFC 3024 §3.1: a request with T set goes out with TTL 255.
    if isinstance(message, RegistrationRequest):
        assert message.flags & RegistrationFlags.T and header.ttl == 255


def test_low_latency_registration_request_layout() -> None:
    rrq = BY_NAME["registration_request"].message
    assert isinstance(rrq, RegistrationRequest)
    # RFC 5944 §3.2 order: MN-HA auth, then the FA-only LLA 138 with the MN's MAC.
    assert [type(e) for e in rrq.extensions] == [MobileHomeAuthentication, LinkLayerAddress]
    lla = rrq.extensions[1]
    assert isinstance(lla, LinkLayerAddress)
    assert lla.value == EthernetMac(mac=samples.MN_MAC)
    assert rrq.care_of_address == samples.NFA


@pytest.mark.parametrize(
    ("name", "cls", "variant"),
    [
        ("handoff_request_s", HandoffRequest, HandoffVariant.SOURCE),
        ("handoff_reply_s", HandoffReply, HandoffVariant.SOURCE),
        ("handoff_request_t", HandoffRequest, HandoffVariant.TARGET),
        ("handoff_reply_t", HandoffReply, HandoffVariant.TARGET),
        ("handoff_request_r", HandoffRequest, HandoffVariant.RENEWAL),
        ("handoff_reply_r", HandoffReply, HandoffVariant.RENEWAL),
        ("handoff_to_third_request", HandoffRequest, HandoffVariant.HANDOFF_TO_THIRD),
        ("handoff_to_third_reply", HandoffReply, HandoffVariant.HANDOFF_TO_THIRD),
    ],
)
def test_handoff_variants(name: str, cls: type, variant: HandoffVariant) -> None:
    message = BY_NAME[name].message
    assert isinstance(message, cls)
    assert message.variant is variant  # type: ignore[attr-defined]
    last = message.extensions[-1]  # type: ignore[attr-defined]
    # RFC 4881 §4.5: FA-FA authentication (36/2) present, and put last.
    assert isinstance(last, GeneralizedAuthentication)
    assert last.subtype == GeneralizedAuthSubtype.FA_FA


@pytest.mark.parametrize("name", ["handoff_to_third_request", "handoff_to_third_reply"])
def test_htt_extension_order(name: str) -> None:
    message = BY_NAME[name].message
    assert isinstance(message, HandoffRequest | HandoffReply)
    first, second, auth = message.extensions
    # RFC 4881 §4.7: Solicited IPv4 Address (the aFA), then the MN's LLA; no tunnel bits.
    assert isinstance(first, LinkLayerAddress)
    assert first.value == SolicitedIpv4Address(address=samples.AFA)
    assert isinstance(second, LinkLayerAddress)
    assert second.value == EthernetMac(mac=samples.MN_MAC)
    assert isinstance(auth, GeneralizedAuthentication) and auth.subtype == 2
    assert message.to_dict()["flags"] == {
        "H": True,
        "N": True,
        "R": False,
        "M": False,
        "G": False,
        "T": False,
        "B": False,
    }


def test_agent_discovery_frames() -> None:
    for name in (
        "agent_solicitation",
        "agent_advertisement",
        "proxy_router_solicitation",
        "proxy_router_advertisement",
    ):
        assert IPv4Header.decode(BY_NAME[name].packet).ttl == 1  # RFC 5944 §2.1, §2.2
    advertisement = BY_NAME["agent_advertisement"].message
    assert isinstance(advertisement, AgentAdvertisement)
    assert advertisement.is_agent_advertisement and advertisement.lla is None
    prrtadv = BY_NAME["proxy_router_advertisement"].message
    assert isinstance(prrtadv, AgentAdvertisement)
    assert prrtadv.lla == EthernetMac(mac=samples.NFA_MAC)
    prrtsol = BY_NAME["proxy_router_solicitation"].message
    assert isinstance(prrtsol, AgentSolicitation)
    assert prrtsol.lla == SolicitedIpv4Address(address=samples.NFA)
    plain = BY_NAME["agent_solicitation"].message
    assert isinstance(plain, AgentSolicitation) and not plain.is_proxy_router_solicitation


def test_tunnels() -> None:
    kinds = {
        name: BY_NAME[name].message
        for name in ("ip_in_ip_tunnel", "minimal_encapsulation_tunnel", "gre_reverse_tunnel")
    }
    assert [m.kind for m in kinds.values()] == [  # type: ignore[attr-defined]
        Encapsulation.IP_IN_IP,
        Encapsulation.MINIMAL,
        Encapsulation.GRE,
    ]
    gre = kinds["gre_reverse_tunnel"]
    assert isinstance(gre, Decapsulated)
    assert gre.outer_header.source == samples.NFA and gre.outer_header.destination == samples.HA
    inner = IPv4Header.decode(gre.inner)
    assert inner.source == samples.MN_HOME and inner.destination == samples.CN


def test_esp_inter_fa_advertisement() -> None:
    frame = BY_NAME["esp_inter_fa_advertisement"]
    sa = EspSecurityAssociation(
        spi=samples.ESP_KEY.spi, auth_key=samples.ESP_KEY.key, mode=EspMode.TUNNEL
    )
    outer, sequence, inner = unprotect_ipv4_tunnel(sa, frame.packet)  # verifies the ICV
    assert (outer.source, outer.destination) == (samples.NFA, samples.OFA)
    assert sequence == 1 and sa.spi > 255
    packet = IPv4Packet.decode(inner)
    assert (packet.header.source, packet.header.destination) == (samples.NFA, samples.MN_HOME)
    advertisement = decode_icmp(packet.payload)
    assert isinstance(advertisement, AgentAdvertisement)
    assert advertisement.lla == EthernetMac(mac=samples.NFA_MAC)
    wrong = EspSecurityAssociation(spi=sa.spi, auth_key=bytes(20), mode=EspMode.TUNNEL)
    with pytest.raises(DecodeError, match="ICV"):
        unprotect_ipv4_tunnel(wrong, frame.packet)
