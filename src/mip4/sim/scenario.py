"""Scenarios: TOML files with design.md's key names, validated with pydantic.

A scenario is a TOML document whose tables are the dotted prefixes of design.md's keys::

    name = "corridor"
    seed = 1
    [topology]
    fas = 3
    ha_delay_ms = 20
    [radio]
    l2_handoff_ms = 100

Built-in scenarios live beside this module (``scenarios/*.toml``); :func:`load_scenario`
takes a built-in name or a path, then applies ``key=value`` overrides (dotted keys, values in
TOML syntax; a bare word is a string). Unknown keys, wrong types and out-of-range values
raise :class:`ScenarioError` with one line naming the key and what it accepts.

Keys beyond design.md's table (a scenario may have more): ``topology.gfa_delay_ms`` (FA-GFA
one-way delay), ``topology.jitter_ms``, ``topology.loss``, ``topology.bandwidth_mbps`` (wired
core), ``mobility.handoffs`` (ping-pong), ``mobility.fast_dwell_ms`` (time in the middle cell
of ``fast``), ``mobility.dwell_jitter_s``, ``traffic.start_s``, ``traffic.downlink``,
``traffic.uplink``, ``protocol.encapsulation``, ``protocol.simultaneous_bindings``,
``protocol.advertisement_jitter``, ``protocol.buffer_limit``, ``protocol.low_latency_s_bit``,
``protocol.low_latency_copies``, ``protocol.fa_challenge``, ``protocol.multi_interface_hold_ms``,
``protocol.tunnel_lifetime_s``, ``protocol.anchor_policy``, ``protocol.combined_timer_ms``,
``protocol.combined_trigger``, ``description``, ``methods``
(the methods the scenario is meant to show, e.g. ``["pre-source"]`` for RFC 4881 Figure 2).
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mip4.errors import LocalUsageError

RADIO_PROFILES: dict[str, dict[str, float]] = {
    # named L2 technologies: defaults for the radio keys a scenario does not set
    "wlan": {"air_delay_ms": 2.0, "l2_handoff_ms": 100.0, "trigger_lead_ms": 200.0},
    "cellular": {"air_delay_ms": 10.0, "l2_handoff_ms": 50.0, "trigger_lead_ms": 300.0},
    "fast-wlan": {"air_delay_ms": 1.0, "l2_handoff_ms": 20.0, "trigger_lead_ms": 100.0},
    "wimax": {"air_delay_ms": 5.0, "l2_handoff_ms": 150.0, "trigger_lead_ms": 250.0},
}


class ScenarioError(LocalUsageError):
    """A scenario file or override is wrong; the message is one line for the user."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Topology(_Section):
    fas: int = Field(default=3, ge=1, le=500, description="number of FAs (cells)")
    ha_delay_ms: float = Field(default=20.0, ge=0, description="d_FH, one-way FA-HA delay")
    fa_delay_ms: float = Field(default=2.0, ge=0, description="d_FF, one-way FA-FA delay")
    cn_delay_ms: float = Field(default=5.0, ge=0, description="one-way CN-HA delay")
    gfa: bool = Field(default=False, description="regional registration through a GFA")
    gfa_delay_ms: float = Field(default=2.0, ge=0, description="one-way FA-GFA delay")
    jitter_ms: float = Field(default=0.0, ge=0, description="uniform extra delay per wired hop")
    loss: float = Field(default=0.0, ge=0, le=1, description="loss probability per wired hop")
    bandwidth_mbps: float = Field(default=0.0, ge=0, description="wired link rate (0: unlimited)")


class Radio(_Section):
    profile: Literal["wlan", "cellular", "fast-wlan", "wimax"] = "wlan"
    air_delay_ms: float | None = Field(default=None, ge=0, description="d_w, one-way MN-FA delay")
    air_loss: float = Field(default=0.0, ge=0, le=1)
    l2_handoff_ms: float | None = Field(default=None, ge=0, description="T_L2, L2-LD to L2-LU")
    trigger_lead_ms: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _profile_defaults(self) -> Radio:
        defaults = RADIO_PROFILES[self.profile]
        for key, value in defaults.items():
            if getattr(self, key) is None:
                object.__setattr__(self, key, value)
        return self


class Mobility(_Section):
    model: Literal["corridor", "ping-pong", "fast", "grid"] = "corridor"
    dwell_s: float = Field(default=5.0, gt=0)
    dwell_jitter_s: float = Field(default=0.0, ge=0)
    mns: int = Field(default=1, ge=1, le=4000)
    handoffs: int = Field(default=10, ge=0)
    fast_dwell_ms: float = Field(default=300.0, ge=0)

    @model_validator(mode="after")
    def _handoffs_apply(self) -> Mobility:
        from mip4.sim.mobility import requested_handoffs

        requested_handoffs(self)  # refuses mobility.handoffs where the model cannot honour it
        return self


class Traffic(_Section):
    interval_ms: float = Field(default=20.0, gt=0)
    payload_bytes: int = Field(default=160, ge=16, le=1400)
    start_s: float | None = Field(
        default=None, ge=0, description="default: 1 s after the MNs attach"
    )
    downlink: bool = True
    uplink: bool = True


class Protocol(_Section):
    advertisement_interval_ms: float = Field(default=1000.0, gt=0)
    advertisement_jitter: float = Field(default=0.0, ge=0, lt=1)
    registration_lifetime_s: int = Field(default=600, ge=1, le=65535)
    reverse_tunnel: bool = True
    smooth_handoff: bool = False
    simultaneous_bindings: bool = False
    encapsulation: Literal["ipip", "minimal", "gre"] = "ipip"
    buffer_limit: int = Field(default=64, ge=0)
    # RFC 4881 §3.1, Appendix C: the S bit in low-latency requests (the HA bicasts)
    low_latency_s_bit: bool = True
    # RFC 4881 §3.4: copies of each low-latency request (0: 2 on a lossy air link, else 1)
    low_latency_copies: int = Field(default=0, ge=0, le=4)
    # RFC 4721 challenges at the FAs of a PRE-REGISTRATION method (with MN-FA SAs, §3.5)
    fa_challenge: bool = False
    # method multi-interface (RFC 4881 Appendix B): both bindings kept this long after the
    # new interface's registration is accepted, then the old care-of address is released
    multi_interface_hold_ms: float = Field(default=100.0, ge=0)
    # POST-REGISTRATION and the combined method (RFC 4881 §4, §5): the BET lifetime each FA
    # offers, requests and grants at most (§4.3); when an aFA moves the BET to the nFA in a
    # three-party handoff (§4.2); the nFA's fallback timer (§5); the anticipatory trigger
    # the radio gives method combined (§5: PRE-REGISTRATION mobile-initiated, L2-MT, or
    # network-initiated, L2-ST at the oFA or L2-TT at the nFA, which also starts the timer)
    tunnel_lifetime_s: int = Field(default=60, ge=1, le=65534)
    anchor_policy: Literal["earliest", "latest"] = "latest"
    combined_timer_ms: float = Field(default=1000.0, gt=0)
    combined_trigger: Literal["L2-ST", "L2-TT", "L2-MT"] = "L2-ST"


class Scenario(_Section):
    name: str = "custom"
    description: str = ""
    seed: int = 1
    # the methods this scenario is meant to show (e.g. the RFC figure's); tools such as
    # ``mip4 compare`` highlight them; empty: every method is equally at home
    methods: list[str] = Field(default_factory=list)
    duration_s: float | None = Field(default=None, gt=0, description="default: every handoff")
    topology: Topology = Field(default_factory=Topology)
    radio: Radio = Field(default_factory=Radio)
    mobility: Mobility = Field(default_factory=Mobility)
    traffic: Traffic = Field(default_factory=Traffic)
    protocol: Protocol = Field(default_factory=Protocol)

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        from mip4.sim import runner  # lazy: the runner imports this module

        known = runner.METHODS_AVAILABLE
        for method in self.methods:
            if method not in known:
                raise ValueError(f"methods: unknown method {method!r}; known: {', '.join(known)}")
        m, r = self.mobility, self.radio
        assert r.l2_handoff_ms is not None
        if m.model in ("ping-pong",) and self.topology.fas < 2:
            raise ValueError("mobility.model 'ping-pong' needs topology.fas >= 2")
        if m.model == "fast" and self.topology.fas < 3:
            raise ValueError("mobility.model 'fast' needs topology.fas >= 3")
        if m.dwell_jitter_s + r.l2_handoff_ms / 1000.0 >= m.dwell_s:
            raise ValueError(
                "mobility.dwell_jitter_s + radio.l2_handoff_ms must stay below mobility.dwell_s"
            )
        return self

    def params(self) -> dict[str, Any]:
        """The resolved scenario as plain data (``params`` of the JSON output)."""
        return self.model_dump(mode="json")


SECTIONS = ("topology", "radio", "mobility", "traffic", "protocol")


def accepted_keys() -> list[str]:
    """Every dotted key a scenario accepts."""
    keys = [k for k in Scenario.model_fields if k not in SECTIONS]
    for section in SECTIONS:
        model = Scenario.model_fields[section].annotation
        keys += [f"{section}.{k}" for k in model.model_fields]  # type: ignore[union-attr]
    return keys


def listing_order(name: str) -> tuple[int, int, str]:
    """The order ``mip4 scenarios`` lists the built-ins in: ``corridor`` (the default), the
    RFC figures by figure number (``rfc-fig2`` before ``rfc-fig10``), then the others by name."""
    if name == "corridor":
        return (0, 0, name)
    figure = re.fullmatch(r"rfc-fig(\d+)", name)
    if figure is not None:
        return (1, int(figure.group(1)), name)
    return (2, 0, name)


def builtin_names() -> list[str]:
    """Names of the built-in scenarios, in :func:`listing_order`."""
    folder = resources.files("mip4.sim") / "scenarios"
    names = (p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))
    return sorted(names, key=listing_order)


def builtin_description(name: str) -> str:
    data = tomllib.loads(_builtin_text(name))
    return str(data.get("description", ""))


def _builtin_text(name: str) -> str:
    return (resources.files("mip4.sim") / "scenarios" / f"{name}.toml").read_text("utf-8")


def parse_value(text: str) -> object:
    """A ``--set`` value: TOML syntax (``20``, ``0.5``, ``true``, ``"x"``), else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply one ``key=value`` to the raw scenario ``data`` (validated later)."""
    key, sep, value = assignment.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ScenarioError(
            f"--set {assignment!r}: expected key=value, e.g. radio.l2_handoff_ms=50"
        )
    parts = key.split(".")
    if key not in accepted_keys():
        raise ScenarioError(_unknown_key_message(parts))
    target = data
    for part in parts[:-1]:
        sub = target.setdefault(part, {})
        if not isinstance(sub, dict):
            raise ScenarioError(f"{key}: {part} is not a table")
        target = sub
    target[parts[-1]] = parse_value(value.strip())


def _unknown_key_message(parts: list[str]) -> str:
    key = ".".join(parts)
    if len(parts) >= 2 and parts[0] in SECTIONS:
        model = Scenario.model_fields[parts[0]].annotation
        names = ", ".join(model.model_fields)  # type: ignore[union-attr]
        return f"unknown key '{key}'; [{parts[0]}] accepts: {names}"
    return f"unknown key '{key}'; accepted keys: {', '.join(accepted_keys())}"


def _format_error(error: ValidationError) -> str:
    first = error.errors()[0]
    loc = [str(p) for p in first["loc"]]
    key = ".".join(loc)
    if first["type"] == "extra_forbidden":
        return _unknown_key_message(loc)
    message = first["msg"]
    if message.startswith("Value error, "):
        return message[len("Value error, ") :]
    got = first.get("input")
    if isinstance(got, dict):
        return f"{key or 'scenario'}: {message}"
    return f"{key}: {message} (got {got!r})"


def validate(data: dict[str, Any]) -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format_error(exc)) from None


def load_scenario(
    source: str | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> Scenario:
    """A built-in scenario by name (default ``corridor``) or a TOML file, with overrides."""
    source = source or "corridor"
    if source in builtin_names():
        text = _builtin_text(source)
        origin = source
    else:
        path = Path(source)
        if not path.is_file():
            raise ScenarioError(
                f"scenario {source!r} is neither a built-in ({', '.join(builtin_names())}) "
                "nor a readable file"
            )
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ScenarioError(f"scenario {source}: cannot read ({exc})") from None
        origin = path.stem
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"scenario {source}: not valid TOML ({exc})") from None
    data.setdefault("name", origin)
    for assignment in overrides:
        apply_override(data, assignment)
    return validate(data)
