"""Daemon configuration: one TOML file per agent, validated into the core configurations.

The file names the role, the agent's addresses and interfaces, its security associations,
its neighbour FAs, timers and method options, and the daemon's own settings::

    role = "fa"                      # ha | fa | mn | gfa
    name = "fa1"
    address = "198.18.1.2"           # mn: home_address and home_agent instead

    [interfaces]                     # ha: home; fa: access, wired; mn: radio; gfa: wired
    access = "fa1-ap"
    wired = "fa1-core"

    [timers]                         # seconds; names as in mip4.core.config
    advertisement_interval = 1.0
    registration_lifetime = 1800

    [options]                        # method options (reverse tunnels, encapsulations ...)
    reverse_tunnel_offered = true
    encapsulations = ["ipip", "minimal", "gre"]

    [[security.fa_ha]]               # mn_ha, mn_fa, fa_ha, fa_fa, fa_gfa, mn_gfa, esp
    peer = "198.18.1.1"
    spi = 300
    algorithm = "hmac-md5"
    key = "hex:00112233445566778899aabbccddeeff"   # or "ascii:some secret"

    [[neighbours]]                   # neighbour FAs and their access-point identifiers
    address = "198.18.1.3"
    access_point_ids = [2]

    [daemon]                         # control socket, TUN device, routing table, buffers
    control_socket = "/run/mip4/fa1/control.sock"
    method = "post-source"           # the handoff method (metrics label)

Every problem is reported with the key that holds it (``security.fa_ha[0].spi: ...``), all
of them at once: :func:`load_config` raises :class:`ConfigError` whose ``problems`` are the
lines ``mip4 agent --check`` prints. Values the core checks (lifetimes, intervals) are
checked by the core configuration and reported under the TOML key that set them.

Neighbour FAs and the inter-FA ESP associations (``[[security.esp]]``, RFC 4881 §3.5) go
into the FA's :class:`~mip4.core.config.PreRegistrationConfig` when ``[pre_registration]``
is present (each neighbour needs an ``out`` and an ``in`` transport SA; tunnel-mode SAs are
optional); the FA-FA associations (``[[security.fa_fa]]``, RFC 4881 §4.5) become the
neighbours of its :class:`~mip4.core.config.PostRegistrationConfig` when
``[post_registration]`` is present. :class:`DaemonConfig` also keeps them as written
(``neighbours``, ``fa_fa``, ``esp``).

``[daemon] method`` names the handoff method the agent takes part in (one of
:data:`mip4.core.methods.HANDOFF_METHODS`, the simulator's names): the ``method`` label of
``mip4_handoffs_total``.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

from mip4.core.actions import TunnelMode
from mip4.core.config import (
    AdvertisementConfig,
    AgentConfig,
    ForeignAgentConfig,
    GatewayForeignAgentConfig,
    GfaOption,
    HomeAgentConfig,
    MobileNodeConfig,
)
from mip4.core.methods import HANDOFF_METHODS
from mip4.core.security import (
    MobilitySecurityAssociation,
    ReplayProtection,
    SecurityAssociation,
)
from mip4.errors import LocalUsageError

ROLES = ("ha", "fa", "mn", "gfa")
ENCAPSULATIONS = {
    "ipip": TunnelMode.IP_IN_IP,
    "minimal": TunnelMode.MINIMAL,
    "gre": TunnelMode.GRE,
}
_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
_IFNAME = re.compile(r"^[^\s/]{1,15}$")


class ConfigError(LocalUsageError):
    """The configuration has problems; ``problems`` holds one line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


# ---------------------------------------------------------------------------- value parsers


def parse_key(value: str) -> bytes:
    """A key written ``hex:0011...`` or ``ascii:secret``."""
    if value.startswith("hex:"):
        try:
            key = bytes.fromhex(value[4:])
        except ValueError:
            raise ValueError("hex key has a non-hex digit or an odd length") from None
    elif value.startswith("ascii:"):
        try:
            key = value[6:].encode("ascii")
        except UnicodeEncodeError:
            raise ValueError("ascii key has a non-ASCII character") from None
    else:
        raise ValueError("must start with 'hex:' or 'ascii:'")
    if not key:
        raise ValueError("must not be empty")
    return key


def parse_mac(value: str) -> bytes:
    if not _MAC.match(value):
        raise ValueError(f"must be a MAC address like 02:00:00:00:00:01, got {value!r}")
    return bytes.fromhex(value.replace(":", ""))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


Spi = Annotated[int, Field(ge=256, le=0xFFFFFFFF, description="RFC 5944 §1.6: 0-255 reserved")]
InterfaceName = Annotated[str, Field(pattern=_IFNAME.pattern)]


class SaEntry(_Strict):
    """A mobility security association with one peer (RFC 5944 §3.5)."""

    peer: IPv4Address
    spi: Spi
    algorithm: Literal["hmac-md5"] = "hmac-md5"
    key: str
    replay: Literal["timestamp", "nonce"] = "timestamp"

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        parse_key(value)
        return value

    def association(self) -> SecurityAssociation:
        return SecurityAssociation(
            spi=self.spi,
            key=parse_key(self.key),
            algorithm=self.algorithm,
            replay=ReplayProtection(self.replay),
        )


class EspEntry(_Strict):
    """An inter-FA ESP association (RFC 4881 §3.4: NULL cipher, HMAC-SHA1-96, one per
    direction and mode: transport for the inter-FA ICMP, tunnel for the tunnelled
    advertisement of §3.4.2)."""

    peer: IPv4Address
    direction: Literal["out", "in"]
    mode: Literal["transport", "tunnel"] = "transport"
    spi: Spi
    algorithm: Literal["hmac-sha1-96"] = "hmac-sha1-96"
    key: str

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if len(parse_key(value)) != 20:
            raise ValueError("an HMAC-SHA1-96 key is exactly 20 bytes (RFC 2404 §3)")
        return value

    def association(self) -> Any:
        from mip4.wire.esp import EspMode, EspSecurityAssociation

        mode = EspMode.TUNNEL if self.mode == "tunnel" else EspMode.TRANSPORT
        return EspSecurityAssociation(spi=self.spi, auth_key=parse_key(self.key), mode=mode)


class Security(_Strict):
    mn_ha: list[SaEntry] = []
    mn_fa: list[SaEntry] = []
    fa_ha: list[SaEntry] = []
    fa_fa: list[SaEntry] = []
    fa_gfa: list[SaEntry] = []
    mn_gfa: list[SaEntry] = []
    esp: list[EspEntry] = []


class Neighbour(_Strict):
    """A neighbour FA (RFC 4881 §3.3: access point id -> FA address)."""

    address: IPv4Address
    access_point_ids: list[Annotated[int, Field(ge=0, le=0xFFFFFFFF)]] = []
    mac: str | None = None
    # RFC 4881 §3.5: the neighbour's own advertisement interval (seconds) and
    # CHALLENGE_WINDOW set how often it is solicited and how long its cached challenge
    # lasts; unset: the same as this FA's.
    advertisement_interval: Annotated[float, Field(gt=0)] | None = None
    challenge_window: Annotated[int, Field(ge=1)] | None = None

    @field_validator("mac")
    @classmethod
    def _mac(cls, value: str | None) -> str | None:
        if value is not None:
            parse_mac(value)
        return value


class DaemonSection(_Strict):
    control_socket: str | None = None
    tun: InterfaceName | None = None
    route_table: Annotated[int, Field(ge=1, le=0xFFFFFFF0)] = 4340
    rule_priority: Annotated[int, Field(ge=1, le=32765)] = 4340
    buffer_limit: Annotated[int, Field(ge=1)] = 1024
    method: str = "standard"  # the handoff metrics' method label: a simulator method name

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        if value not in HANDOFF_METHODS:
            raise ValueError(f"must be one of {', '.join(HANDOFF_METHODS)}, got {value!r}")
        return value


Encap = Literal["ipip", "minimal", "gre"]
Seconds = Annotated[float, Field(allow_inf_nan=False)]


class AdvertisingTimers(_Strict):
    advertisement_interval: Seconds | None = None
    advertisement_lifetime: int | None = None
    advertisement_jitter: float | None = None


class FaPreRegistration(_Strict):
    """RFC 4881 §3 at an FA (present: PRE-REGISTRATION on); neighbours come from
    ``[[neighbours]]`` with their ``security.esp`` entries."""

    access_point_ids: list[Annotated[int, Field(ge=0, le=0xFFFFFFFF)]] = []
    min_solicitation_interval: Seconds | None = None
    challenge_window: int | None = None
    use_challenge: StrictBool | None = None
    cache_lifetime: Seconds | None = None
    trigger_rate_limit: int | None = None
    advertisement_copies: int | None = None
    solicitation_copies: int | None = None
    low_latency_ttl_hops: int | None = None
    buffer_data: StrictBool | None = None
    buffer_limit: int | None = None


class FaPostRegistration(_Strict):
    """RFC 4881 §4/§5 at an FA (present: POST-REGISTRATION on); the FA-FA associations come
    from ``security.fa_fa``."""

    tunnel_lifetime: int | None = None
    allow_infinite: StrictBool | None = None
    reverse_tunnel: StrictBool | None = None
    ingress_filtering: StrictBool | None = None
    reverse_to_home_agent: StrictBool | None = None
    encapsulation: Encap | None = None
    anchor_policy: Literal["earliest", "latest"] | None = None
    reply_timeout: Seconds | None = None
    config_hfail: Seconds | None = None
    retransmit_initial: Seconds | None = None
    renew_fraction: float | None = None
    replay_skew: Seconds | None = None
    combined: StrictBool | None = None
    combined_timer: Seconds | None = None
    buffer_data: StrictBool | None = None
    buffer_limit: int | None = None


class MnPreRegistration(_Strict):
    """RFC 4881 §3 at the MN (present: PRE-REGISTRATION on)."""

    simultaneous_bindings: StrictBool | None = None
    copies: int | None = None
    identify_by: Literal["address", "access-point"] | None = None
    pre_sol_interval: Seconds | None = None
    pre_sol_attempts: int | None = None
    fallback_after: Seconds | None = None
    drop_old_binding: StrictBool | None = None
    prrtsol_copies: int | None = None


def _passthrough(model: BaseModel) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if value is None or name == "access_point_ids":
            continue
        out[name] = ENCAPSULATIONS[value] if name == "encapsulation" else value
    return out


# ------------------------------------------------------------------ per role


class HaInterfaces(_Strict):
    home: InterfaceName


class HaTimers(AdvertisingTimers):
    max_lifetime: int | None = None
    replay_skew: Seconds | None = None


class HaOptions(_Strict):
    simultaneous_bindings: StrictBool | None = None
    max_bindings: int | None = None
    reverse_tunnel_offered: StrictBool | None = None
    reverse_tunnel_required: StrictBool | None = None
    encapsulations: list[Encap] | None = None
    advertise: StrictBool = False


class HaFile(_Strict):
    role: Literal["ha"]
    name: str = Field(min_length=1)
    address: IPv4Address
    home_prefix_length: Annotated[int, Field(ge=0, le=32)] = 24
    mac: str | None = None
    interfaces: HaInterfaces
    timers: HaTimers = HaTimers()
    options: HaOptions = HaOptions()
    security: Security = Security()
    neighbours: list[Neighbour] = []
    daemon: DaemonSection = DaemonSection()


class FaInterfaces(_Strict):
    access: InterfaceName
    wired: InterfaceName


class FaTimers(AdvertisingTimers):
    registration_lifetime: int | None = None
    pending_timeout: Seconds | None = None
    denial_interval: Seconds | None = None


class FaOptions(_Strict):
    reverse_tunnel_offered: StrictBool | None = None
    reverse_tunnel_required: StrictBool | None = None
    encapsulating_delivery: StrictBool | None = None
    encapsulations: list[Encap] | None = None
    max_pending: int | None = None
    advertisement_destination: Literal["224.0.0.1", "255.255.255.255"] | None = None
    mobility_only: StrictBool | None = None
    advertise: StrictBool = True
    gfa: IPv4Address | None = None


class FaFile(_Strict):
    role: Literal["fa"]
    name: str = Field(min_length=1)
    address: IPv4Address
    other_addresses: list[IPv4Address] = []
    mac: str | None = None
    interfaces: FaInterfaces
    timers: FaTimers = FaTimers()
    options: FaOptions = FaOptions()
    security: Security = Security()
    neighbours: list[Neighbour] = []
    pre_registration: FaPreRegistration | None = None
    post_registration: FaPostRegistration | None = None
    daemon: DaemonSection = DaemonSection()


class MnInterfaces(_Strict):
    radio: InterfaceName


class MnTimers(_Strict):
    registration_lifetime: int | None = None
    retransmit_initial: Seconds | None = None
    retransmit_max: Seconds | None = None
    reregister_fraction: float | None = None
    solicitation_interval: Seconds | None = None
    initial_solicitations: int | None = None
    max_solicitation_interval: Seconds | None = None
    solicitation_jitter: float | None = None


class MnOptions(_Strict):
    reverse_tunnel: StrictBool | None = None
    encapsulating_delivery: StrictBool | None = None
    encapsulation: Encap | None = None
    simultaneous_bindings: StrictBool | None = None
    eager: StrictBool | None = None
    solicit_on_link_up: StrictBool | None = None
    regional_registration: StrictBool | None = None
    timestamp_random_bits: int | None = None
    deferred_registration: StrictBool | None = None
    combined_method: StrictBool | None = None
    uplink_buffer: int | None = None  # smooth handoff: uplink packets held across L2-LD
    link_events: StrictBool = True


class MnMultiInterface(_Strict):
    """RFC 4881 Appendix B (method ``multi-interface``): the MN's second radio; present,
    the daemon runs :class:`~mip4.core.mn_multi_interface.MultiInterfaceMobileNode` with
    ``interfaces.radio`` (and ``mac``) as the first interface and this one as the second."""

    interface: InterfaceName
    mac: str
    hold_time: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.1

    @field_validator("mac")
    @classmethod
    def _mac(cls, value: str) -> str:
        parse_mac(value)
        return value


class MnFile(_Strict):
    role: Literal["mn"]
    name: str = Field(min_length=1)
    home_address: IPv4Address
    home_agent: IPv4Address
    mac: str | None = None
    interfaces: MnInterfaces
    timers: MnTimers = MnTimers()
    options: MnOptions = MnOptions()
    security: Security
    neighbours: list[Neighbour] = []
    pre_registration: MnPreRegistration | None = None
    multi_interface: MnMultiInterface | None = None
    daemon: DaemonSection = DaemonSection()


class GfaInterfaces(_Strict):
    wired: InterfaceName


class GfaTimers(_Strict):
    max_lifetime: int | None = None
    max_regional_lifetime: int | None = None
    pending_timeout: Seconds | None = None
    replay_skew: Seconds | None = None


class GfaOptions(_Strict):
    reverse_tunnel_offered: StrictBool | None = None
    encapsulations: list[Encap] | None = None


class GfaFile(_Strict):
    role: Literal["gfa"]
    name: str = Field(min_length=1)
    address: IPv4Address
    interfaces: GfaInterfaces
    timers: GfaTimers = GfaTimers()
    options: GfaOptions = GfaOptions()
    security: Security = Security()
    neighbours: list[Neighbour] = []
    daemon: DaemonSection = DaemonSection()


AnyFile = HaFile | FaFile | MnFile | GfaFile
_MODELS: dict[str, type[AnyFile]] = {"ha": HaFile, "fa": FaFile, "mn": MnFile, "gfa": GfaFile}


# ---------------------------------------------------------------------------- result


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonConfig:
    """A validated daemon configuration: the core config plus the daemon's own settings."""

    role: str
    name: str
    core: AgentConfig
    interfaces: Mapping[str, str]
    mac_configured: bool
    control_socket: Path
    tun: str
    route_table: int
    rule_priority: int
    buffer_limit: int
    method: str
    neighbours: tuple[Neighbour, ...]
    fa_fa: Mapping[IPv4Address, SecurityAssociation]
    esp: tuple[EspEntry, ...]
    link_events: StrictBool = False
    source: Path | None = None
    # MN, method multi-interface (RFC 4881 Appendix B): the second radio and its MAC, and
    # how long both bindings are kept
    second_radio: tuple[str, bytes] | None = None
    multi_interface_hold: float = 0.1

    @property
    def addresses(self) -> frozenset[IPv4Address]:
        """The agent's own unicast addresses."""
        core = self.core
        if isinstance(core, MobileNodeConfig):
            return frozenset({core.home_address})
        if isinstance(core, ForeignAgentConfig):
            return core.addresses
        return frozenset({core.address})

    def with_core(self, **changes: Any) -> DaemonConfig:
        """A copy whose core config has ``changes`` (e.g. the MAC read from the interface)."""
        return dataclasses.replace(self, core=dataclasses.replace(self.core, **changes))


# ---------------------------------------------------------------------------- loading


def _loc(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _pydantic_problems(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        loc = [p for p in item["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        elif item["type"] == "missing":
            message = "required key is missing"
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        problems.append(f"{_loc(loc) or '(top level)'}: {message}")
    return problems


def _sas(
    entries: list[SaEntry], key: str, problems: list[str], *, contexts: bool = False
) -> dict[IPv4Address, Any]:
    """One association per peer. With ``contexts`` (the HA's ``mn_ha``) a peer may have
    several entries with distinct SPIs: one Mobility Security Association with several
    security contexts, selected by SPI (RFC 5944 §1.6, §3.5.1), e.g. a key being rolled
    over; the first entry is the context the HA itself would seal with."""
    out: dict[IPv4Address, SecurityAssociation] = {}
    extra: dict[IPv4Address, list[SecurityAssociation]] = {}
    for i, entry in enumerate(entries):
        if entry.peer in out and not contexts:
            problems.append(f"security.{key}[{i}].peer: {entry.peer} appears twice")
            continue
        try:
            association = entry.association()
        except LocalUsageError as exc:
            problems.append(f"security.{key}[{i}]: {exc}")
            continue
        if entry.peer in out:
            used = [out[entry.peer].spi, *(a.spi for a in extra.get(entry.peer, []))]
            if entry.spi in used:
                problems.append(
                    f"security.{key}[{i}].spi: SPI {entry.spi} appears twice for {entry.peer}"
                )
                continue
            extra.setdefault(entry.peer, []).append(association)
        else:
            out[entry.peer] = association
    for peer, others in extra.items():
        first = out[peer]
        try:
            out[peer] = MobilitySecurityAssociation(
                spi=first.spi,
                key=first.key,
                algorithm=first.algorithm,
                replay=first.replay,
                others=tuple(others),
            )
        except LocalUsageError as exc:
            problems.append(f"security.{key}: peer {peer}: {exc}")
    return out


def _set(kwargs: dict[str, Any], key_map: dict[str, str], section: str, model: BaseModel) -> None:
    for name in type(model).model_fields:
        value = getattr(model, name)
        if value is None or name in ("advertise", "link_events", "gfa"):
            continue
        if name.startswith("advertisement_"):
            continue
        if name == "encapsulations":
            value = frozenset(ENCAPSULATIONS[v] for v in value)
        elif name == "encapsulation":
            value = ENCAPSULATIONS[value]
        kwargs[name] = value
        key_map[name] = f"{section}.{name}"


def _advertisement(timers: AdvertisingTimers, options: Any, key_map: dict[str, str]) -> Any:
    kwargs: dict[str, Any] = {}
    pairs = (
        ("advertisement_interval", "interval", "timers"),
        ("advertisement_lifetime", "icmp_lifetime", "timers"),
        ("advertisement_jitter", "jitter", "timers"),
    )
    for toml_name, field_name, section in pairs:
        value = getattr(timers, toml_name)
        if value is not None:
            kwargs[field_name] = value
            key_map[f"AdvertisementConfig.{field_name}"] = f"{section}.{toml_name}"
    destination = getattr(options, "advertisement_destination", None)
    if destination is not None:
        kwargs["destination"] = IPv4Address(destination)
        key_map["AdvertisementConfig.destination"] = "options.advertisement_destination"
    mobility_only = getattr(options, "mobility_only", None)
    if mobility_only is not None:
        kwargs["mobility_only"] = mobility_only
        key_map["AdvertisementConfig.mobility_only"] = "options.mobility_only"
    if getattr(options, "advertise", True) is False and isinstance(options, FaOptions):
        kwargs["enabled"] = False
    return AdvertisementConfig(**kwargs)


_SECTIONS = {
    "PreRegistrationConfig": "pre_registration",
    "MnPreRegistrationConfig": "pre_registration",
    "PostRegistrationConfig": "post_registration",
    "NeighbourFa": "neighbours",
}


def _fa_pre(model: FaFile, problems: list[str]) -> Any:
    """RFC 4881 §3.4.1, §3.5: the configured neighbours with their ESP SAs and AP ids."""
    from mip4.core.config import NeighbourFa, PreRegistrationConfig

    assert model.pre_registration is not None
    esp: dict[tuple[IPv4Address, str, str], Any] = {}
    for i, entry in enumerate(model.security.esp):
        where = (entry.peer, entry.direction, entry.mode)
        if where in esp:
            problems.append(
                f"security.esp[{i}]: a second {entry.direction}/{entry.mode} SA for {entry.peer}"
            )
            continue
        try:
            esp[where] = entry.association()
        except LocalUsageError as exc:
            problems.append(f"security.esp[{i}]: {exc}")
    neighbours = []
    for i, n in enumerate(model.neighbours):
        out, into = (
            esp.get((n.address, "out", "transport")),
            esp.get((n.address, "in", "transport")),
        )
        if out is None or into is None:
            problems.append(
                f"neighbours[{i}]: PRE-REGISTRATION needs security.esp entries for peer "
                f"{n.address} with direction 'out' and 'in' (mode 'transport')"
            )
            continue
        neighbours.append(
            NeighbourFa(
                address=n.address,
                esp_out=out,
                esp_in=into,
                tunnel_out=esp.get((n.address, "out", "tunnel")),
                tunnel_in=esp.get((n.address, "in", "tunnel")),
                access_point_ids=tuple(n.access_point_ids),
                advertisement_interval=n.advertisement_interval,
                challenge_window=n.challenge_window,
            )
        )
    return PreRegistrationConfig(
        neighbours=tuple(neighbours),
        access_point_ids=tuple(model.pre_registration.access_point_ids),
        **_passthrough(model.pre_registration),
    )


def _core_error(exc: LocalUsageError, key_map: dict[str, str]) -> str:
    text = str(exc)
    head, _, rest = text.partition(": ")
    cls, _, field_name = head.partition(".")
    if cls in _SECTIONS and rest:
        return f"{_SECTIONS[cls]}.{field_name}: {rest}"
    key = key_map.get(head) or key_map.get(field_name)
    if key is not None and rest:
        return f"{key}: {rest}"
    return text


def _build_core(model: AnyFile, problems: list[str]) -> AgentConfig | None:
    sec = model.security
    key_map: dict[str, str] = {"address": "address", "name": "name"}
    kwargs: dict[str, Any] = {"name": model.name}
    mac = getattr(model, "mac", None)
    if mac is not None:
        try:
            kwargs["mac"] = parse_mac(mac)
        except ValueError as exc:
            problems.append(f"mac: {exc}")
        key_map["mac"] = "mac"
    try:
        if isinstance(model, HaFile):
            kwargs.update(
                address=model.address,
                home_prefix_length=model.home_prefix_length,
                home_interface=model.interfaces.home,
                mn_ha=_sas(sec.mn_ha, "mn_ha", problems, contexts=True),
                fa_ha=_sas(sec.fa_ha, "fa_ha", problems),
            )
            _set(kwargs, key_map, "timers", model.timers)
            _set(kwargs, key_map, "options", model.options)
            if model.options.advertise:
                kwargs["advertisement"] = _advertisement(model.timers, model.options, key_map)
            if problems:
                return None
            return HomeAgentConfig(**kwargs)
        if isinstance(model, FaFile):
            kwargs.update(
                address=model.address,
                other_addresses=tuple(model.other_addresses),
                access_interface=model.interfaces.access,
                wired_interface=model.interfaces.wired,
                mn_fa=_sas(sec.mn_fa, "mn_fa", problems),
                fa_ha=_sas(sec.fa_ha, "fa_ha", problems),
            )
            _set(kwargs, key_map, "timers", model.timers)
            _set(kwargs, key_map, "options", model.options)
            kwargs["advertisement"] = _advertisement(model.timers, model.options, key_map)
            if model.options.gfa is not None:
                fa_gfa = _sas(sec.fa_gfa, "fa_gfa", problems)
                sa = fa_gfa.get(model.options.gfa)
                if sa is None:
                    problems.append(
                        f"options.gfa: no security.fa_gfa entry has peer {model.options.gfa}"
                    )
                else:
                    kwargs["gfa"] = GfaOption(address=model.options.gfa, security=sa)
            if model.pre_registration is not None:
                kwargs["pre_registration"] = _fa_pre(model, problems)
            if model.post_registration is not None:
                from mip4.core.config import PostRegistrationConfig

                kwargs["post_registration"] = PostRegistrationConfig(
                    neighbours=_sas(sec.fa_fa, "fa_fa", []),
                    **_passthrough(model.post_registration),
                )
            if problems:
                return None
            return ForeignAgentConfig(**kwargs)
        if isinstance(model, MnFile):
            mn_ha = _sas(sec.mn_ha, "mn_ha", problems)
            if len(sec.mn_ha) != 1:
                problems.append(
                    "security.mn_ha: a mobile node needs exactly one entry (its HA), "
                    f"got {len(sec.mn_ha)}"
                )
            elif model.home_agent not in mn_ha:
                problems.append(
                    f"security.mn_ha[0].peer: must be the home_agent {model.home_agent}"
                )
            kwargs.update(
                home_address=model.home_address,
                home_agent=model.home_agent,
                interface=model.interfaces.radio,
                mn_fa=_sas(sec.mn_fa, "mn_fa", problems),
                mn_gfa=_sas(sec.mn_gfa, "mn_gfa", problems),
            )
            _set(kwargs, key_map, "timers", model.timers)
            _set(kwargs, key_map, "options", model.options)
            if model.pre_registration is not None:
                from mip4.core.config import MnPreRegistrationConfig

                kwargs["pre_registration"] = MnPreRegistrationConfig(
                    **_passthrough(model.pre_registration)
                )
            if problems:
                return None
            return MobileNodeConfig(mn_ha=mn_ha[model.home_agent], **kwargs)
        kwargs.update(
            address=model.address,
            interface=model.interfaces.wired,
            fa_gfa=_sas(sec.fa_gfa, "fa_gfa", problems),
            mn_gfa=_sas(sec.mn_gfa, "mn_gfa", problems),
            fa_ha=_sas(sec.fa_ha, "fa_ha", problems),
        )
        _set(kwargs, key_map, "timers", model.timers)
        _set(kwargs, key_map, "options", model.options)
        if problems:
            return None
        return GatewayForeignAgentConfig(**kwargs)
    except LocalUsageError as exc:
        problems.append(_core_error(exc, key_map))
        return None


def parse_config(data: Mapping[str, Any], *, source: Path | None = None) -> DaemonConfig:
    """Validate a parsed TOML document; raises :class:`ConfigError` listing every problem."""
    role = data.get("role")
    if role not in ROLES:
        raise ConfigError([f"role: must be one of {', '.join(ROLES)}, got {role!r}"])
    try:
        model = _MODELS[role].model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(_pydantic_problems(exc)) from None
    problems: list[str] = []
    core = _build_core(model, problems)
    fa_fa = _sas(model.security.fa_fa, "fa_fa", problems)
    seen: set[IPv4Address] = set()
    for i, neighbour in enumerate(model.neighbours):
        if neighbour.address in seen:
            problems.append(f"neighbours[{i}].address: {neighbour.address} appears twice")
        seen.add(neighbour.address)
    if isinstance(model, MnFile) and model.multi_interface is not None:
        if model.multi_interface.interface == model.interfaces.radio:
            problems.append("multi_interface.interface: must differ from interfaces.radio")
        if model.mac is None:
            problems.append("mac: required with [multi_interface] (one MAC per radio)")
        elif parse_mac(model.mac) == parse_mac(model.multi_interface.mac):
            problems.append("multi_interface.mac: must differ from mac")
    if problems or core is None:
        raise ConfigError(problems or ["(top level): invalid configuration"])
    section = model.daemon
    interfaces = model.interfaces.model_dump()
    control = (
        Path(section.control_socket)
        if section.control_socket
        else Path("/run/mip4") / model.name / "control.sock"
    )
    return DaemonConfig(
        role=role,
        name=model.name,
        core=core,
        interfaces=interfaces,
        mac_configured=getattr(model, "mac", None) is not None,
        control_socket=control,
        tun=section.tun or f"mip4-{model.name}"[:15],
        route_table=section.route_table,
        rule_priority=section.rule_priority,
        buffer_limit=section.buffer_limit,
        method=section.method,
        neighbours=tuple(model.neighbours),
        fa_fa=fa_fa,
        esp=tuple(model.security.esp),
        link_events=isinstance(model, MnFile) and model.options.link_events,
        source=source,
        **_multi_interface(model),
    )


def _multi_interface(model: AnyFile) -> dict[str, Any]:
    if not isinstance(model, MnFile) or model.multi_interface is None:
        return {}
    multi = model.multi_interface
    return {
        "second_radio": (multi.interface, parse_mac(multi.mac)),
        "multi_interface_hold": multi.hold_time,
    }


def load_config(path: str | Path) -> DaemonConfig:
    """Read and validate a TOML file; raises :class:`ConfigError` (one line per problem)."""
    path = Path(path)
    try:
        with path.open("rb") as stream:
            data = tomllib.load(stream)
    except OSError as exc:
        raise ConfigError([f"{path}: {exc.strerror or exc}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    return parse_config(data, source=path)


__all__ = [
    "ENCAPSULATIONS",
    "ROLES",
    "ConfigError",
    "DaemonConfig",
    "EspEntry",
    "Neighbour",
    "SaEntry",
    "load_config",
    "parse_config",
    "parse_key",
    "parse_mac",
]
