"""`mip4 agent --check` and the TOML validation: every problem names its key."""

from __future__ import annotations

import tomllib
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from mip4.cli import main
from mip4.core.actions import TunnelMode
from mip4.core.config import ForeignAgentConfig, HomeAgentConfig, MobileNodeConfig
from mip4.daemon.config import ConfigError, load_config, parse_config, parse_key

CONTRIB = Path(__file__).resolve().parents[2] / "contrib" / "configs"


def _load(name: str) -> dict[str, Any]:
    with (CONTRIB / name).open("rb") as stream:
        return tomllib.load(stream)


def _problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return caught.value.problems


@pytest.mark.parametrize("name", ["ha.toml", "fa.toml", "mn.toml"])
def test_contrib_configs_are_valid(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agent", "--check", "--config", str(CONTRIB / name)]) == 0
    assert capsys.readouterr().out.endswith("ok (" + name[:2] + " " + _load(name)["name"] + ")\n")


def test_values_reach_the_core_configs() -> None:
    ha = load_config(CONTRIB / "ha.toml")
    assert isinstance(ha.core, HomeAgentConfig)
    assert ha.core.mn_ha[IPv4Address("198.18.2.10")].spi == 1000
    assert ha.core.mn_ha[IPv4Address("198.18.2.10")].key == bytes.fromhex(
        "00112233445566778899aabbccddeeff"
    )
    assert ha.core.fa_ha[IPv4Address("198.18.1.2")].key == b"fa-ha shared secret"
    assert ha.core.home_interface == "ha-core"
    fa = load_config(CONTRIB / "fa.toml")
    assert isinstance(fa.core, ForeignAgentConfig)
    assert fa.core.access_interface == "fa1-ap"
    assert fa.core.advertisement.interval == 1.0
    assert fa.core.advertisement.destination == IPv4Address("255.255.255.255")
    assert fa.core.encapsulations == frozenset(TunnelMode)
    assert fa.neighbours[0].access_point_ids == [2]
    assert fa.fa_fa[IPv4Address("198.18.1.3")].spi == 1200
    assert fa.esp[0].spi == 1300
    assert fa.control_socket == Path("/run/mip4/fa1/control.sock")
    mn = load_config(CONTRIB / "mn.toml")
    assert isinstance(mn.core, MobileNodeConfig)
    assert mn.core.interface == "mn-radio"
    assert mn.core.mn_ha.spi == 1000
    assert mn.link_events is True


def test_keys_hex_or_ascii() -> None:
    assert parse_key("hex:0aff") == b"\x0a\xff"
    assert parse_key("ascii:abc") == b"abc"
    for bad in ("0aff", "hex:0g", "hex:abc", "ascii:", "ascii:é"):
        with pytest.raises(ValueError):
            parse_key(bad)


def test_every_problem_names_its_key() -> None:
    data = _load("fa.toml")
    data["interfaces"]["bogus"] = "x"
    data["security"]["fa_ha"][0]["spi"] = 3
    data["security"]["fa_ha"][0]["key"] = "plain"
    data["security"]["esp"][0]["algorithm"] = "hmac-md5"
    data["neighbours"][0]["address"] = "not-an-address"
    del data["address"]
    problems = _problems(data)
    assert [p.split(":")[0] for p in problems] == [
        "address",
        "interfaces.bogus",
        "security.fa_ha[0].spi",
        "security.fa_ha[0].key",
        "security.esp[0].algorithm",
        "neighbours[0].address",
    ]
    assert problems[0] == "address: required key is missing"
    assert problems[1] == "interfaces.bogus: unknown key"
    assert "must start with 'hex:' or 'ascii:'" in problems[3]


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("timers", "registration_lifetime", 0, "timers.registration_lifetime: must be 1..65535"),
        ("timers", "advertisement_interval", -1.0, "timers.advertisement_interval: must be > 0"),
        ("timers", "pending_timeout", 0.0, "timers.pending_timeout: must be > 0"),
        ("options", "encapsulations", ["gre"], "options.encapsulations: must include"),
        ("options", "encapsulations", ["udp"], "options.encapsulations[0]: Input should be"),
        ("options", "reverse_tunnel_offered", "yes", "options.reverse_tunnel_offered: Input"),
    ],
)
def test_core_checks_are_reported_under_the_toml_key(
    section: str, key: str, value: object, expected: str
) -> None:
    data = _load("fa.toml")
    data[section][key] = value
    problems = _problems(data)
    assert len(problems) == 1
    assert problems[0].startswith(expected), problems


def test_role_and_mobile_node_rules() -> None:
    assert _problems({"role": "router"}) == ["role: must be one of ha, fa, mn, gfa, got 'router'"]
    data = _load("mn.toml")
    data["security"]["mn_ha"][0]["peer"] = "198.18.9.9"
    assert _problems(data) == ["security.mn_ha[0].peer: must be the home_agent 198.18.1.1"]
    data = _load("mn.toml")
    data["security"]["mn_ha"].append(dict(data["security"]["mn_ha"][0], peer="198.18.1.9"))
    assert _problems(data)[0].startswith("security.mn_ha: a mobile node needs exactly one")
    data = _load("ha.toml")
    data["security"]["mn_ha"].append(dict(data["security"]["mn_ha"][0]))
    assert _problems(data) == ["security.mn_ha[1].spi: SPI 1000 appears twice for 198.18.2.10"]


def test_check_exit_code_and_one_line_per_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        'role = "ha"\nname = "ha"\naddress = "198.18.1.300"\n[interfaces]\nhome = "x y"\n'
        '[[security.mn_ha]]\npeer = "198.18.2.10"\nspi = 7\nkey = "ascii:k"\n'
    )
    assert main(["agent", "--check", "--config", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(": ")[1] for line in lines] == [
        "address",
        "interfaces.home",
        "security.mn_ha[0].spi",
    ]
    path.write_text("role = \n")
    assert main(["agent", "--check", "--config", str(path)]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    assert main(["agent", "--check", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "No such file" in capsys.readouterr().err


def test_rfc4881_sections_reach_the_core() -> None:
    fa = load_config(CONTRIB / "fa.toml")
    assert isinstance(fa.core, ForeignAgentConfig)
    pre = fa.core.pre_registration
    assert pre is not None and pre.access_point_ids == (1,)
    (neighbour,) = pre.neighbours
    assert neighbour.address == IPv4Address("198.18.1.3")
    assert (neighbour.esp_out.spi, neighbour.esp_in.spi) == (1300, 1301)
    assert neighbour.tunnel_out is None
    assert neighbour.access_point_ids == (2,)
    assert pre.resolve_access_point(2) == IPv4Address("198.18.1.3")
    post = fa.core.post_registration
    assert post is not None and post.tunnel_lifetime == 60
    assert post.neighbours[IPv4Address("198.18.1.3")].spi == 1200
    data = _load("mn.toml")
    data["pre_registration"] = {"copies": 2, "identify_by": "access-point"}
    data["options"]["deferred_registration"] = True
    mn = parse_config(data)
    assert isinstance(mn.core, MobileNodeConfig)
    assert mn.core.pre_registration is not None and mn.core.pre_registration.copies == 2
    assert mn.core.deferred_registration is True


def test_rfc4881_problems_name_their_keys() -> None:
    data = _load("fa.toml")
    del data["security"]["esp"][1]
    assert _problems(data) == [
        "neighbours[0]: PRE-REGISTRATION needs security.esp entries for peer 198.18.1.3 with "
        "direction 'out' and 'in' (mode 'transport')"
    ]
    data = _load("fa.toml")
    data["security"]["esp"][0]["key"] = "hex:00"
    assert _problems(data)[0].startswith("security.esp[0].key: an HMAC-SHA1-96 key is exactly")
    data = _load("fa.toml")
    data["pre_registration"]["advertisement_copies"] = 0
    assert _problems(data) == ["pre_registration.advertisement_copies: must be an int >= 1, got 0"]
    data = _load("fa.toml")
    data["post_registration"]["tunnel_lifetime"] = 65535
    assert _problems(data)[0].startswith("post_registration.tunnel_lifetime: 0xFFFF needs")
    data = _load("mn.toml")
    data["pre_registration"] = {"identify_by": "name"}
    assert _problems(data)[0].startswith("pre_registration.identify_by: Input should be")


def test_smooth_handoff_and_multi_interface_options() -> None:
    data = _load("mn.toml")
    data["options"]["uplink_buffer"] = 32
    data["mac"] = "02:00:00:00:01:01"
    data["multi_interface"] = {"interface": "wlan1", "mac": "06:00:00:00:01:01", "hold_time": 0.2}
    mn = parse_config(data)
    assert isinstance(mn.core, MobileNodeConfig) and mn.core.uplink_buffer == 32
    assert mn.second_radio == ("wlan1", bytes.fromhex("060000000101"))
    assert mn.multi_interface_hold == 0.2
    import random

    from mip4.core.mn_multi_interface import MultiInterfaceMobileNode
    from mip4.daemon.runtime import make_agent

    agent: Any = make_agent(mn, random.Random(1))
    assert isinstance(agent, MultiInterfaceMobileNode)
    assert agent.order == (mn.core.interface, "wlan1") and agent.config.hold_time == 0.2
    data["multi_interface"] = {"interface": data["interfaces"]["radio"], "mac": data["mac"]}
    assert _problems(data) == [
        "multi_interface.interface: must differ from interfaces.radio",
        "multi_interface.mac: must differ from mac",
    ]
    fa = _load("fa.toml")
    fa["post_registration"]["buffer_data"] = True
    fa_config = parse_config(fa)
    assert isinstance(fa_config.core, ForeignAgentConfig)
    post = fa_config.core.post_registration
    assert post is not None and post.buffer_data is True


def test_the_method_is_one_of_the_simulator_s() -> None:
    from mip4.sim import METHODS_AVAILABLE

    data = _load("ha.toml")
    assert load_config(CONTRIB / "ha.toml").method == "standard"  # the default
    for method in METHODS_AVAILABLE:
        data["daemon"]["method"] = method
        assert parse_config(data).method == method
    data["daemon"]["method"] = "pre-magic"
    (problem,) = _problems(data)
    assert problem.startswith("daemon.method: must be one of standard, standard-solicit, ")
    assert problem.endswith("got 'pre-magic'")


def test_several_mn_ha_contexts_per_mobile_node_at_the_ha() -> None:
    """RFC 5944 §1.6, §3.5.1: an HA's MN-HA association may hold several contexts, one per
    SPI (e.g. a key roll-over); the SPIs must differ and share the replay protection."""
    data = _load("ha.toml")
    first = data["security"]["mn_ha"][0]
    data["security"]["mn_ha"].append({**first, "spi": first["spi"] + 1, "key": "ascii:new-key"})
    ha = parse_config(data)
    assert isinstance(ha.core, HomeAgentConfig)
    association = ha.core.mn_ha[IPv4Address(first["peer"])]
    assert association.spi == first["spi"]
    assert association.context(first["spi"] + 1).key == b"new-key"
    assert association.context(first["spi"] + 2) is None
    data["security"]["mn_ha"][-1]["spi"] = first["spi"]
    assert _problems(data) == [
        f"security.mn_ha[1].spi: SPI {first['spi']} appears twice for {first['peer']}"
    ]
    data["security"]["mn_ha"][-1].update(spi=first["spi"] + 1, replay="nonce")
    assert _problems(data)[0].startswith(f"security.mn_ha: peer {first['peer']}: others:")
    mn = _load("mn.toml")
    mn["security"]["mn_ha"].append(dict(mn["security"]["mn_ha"][0]))
    assert any(p.startswith("security.mn_ha") for p in _problems(mn))


def test_a_neighbour_s_own_advertisement_interval_and_challenge_window() -> None:
    """RFC 4881 §3.5: the nFA's interval and CHALLENGE_WINDOW reach the core config."""
    data = _load("fa.toml")
    data["neighbours"][0].update(advertisement_interval=4.0, challenge_window=5)
    fa = parse_config(data)
    assert isinstance(fa.core, ForeignAgentConfig)
    assert fa.core.pre_registration is not None
    (neighbour,) = fa.core.pre_registration.neighbours
    assert (neighbour.advertisement_interval, neighbour.challenge_window) == (4.0, 5)
    data["neighbours"][0].update(advertisement_interval=0, challenge_window=0)
    problems = _problems(data)
    assert any(p.startswith("neighbours[0].advertisement_interval") for p in problems), problems
    assert any(p.startswith("neighbours[0].challenge_window") for p in problems), problems
