"""Scenarios: built-ins, TOML files, typed --set overrides, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mip4.sim.scenario import ScenarioError, accepted_keys, builtin_names, load_scenario

DESIGN_KEYS = [
    "seed",
    "duration_s",
    "topology.fas",
    "topology.ha_delay_ms",
    "topology.fa_delay_ms",
    "topology.cn_delay_ms",
    "topology.gfa",
    "radio.profile",
    "radio.air_delay_ms",
    "radio.air_loss",
    "radio.l2_handoff_ms",
    "radio.trigger_lead_ms",
    "mobility.model",
    "mobility.dwell_s",
    "mobility.mns",
    "traffic.interval_ms",
    "traffic.payload_bytes",
    "protocol.advertisement_interval_ms",
    "protocol.registration_lifetime_s",
    "protocol.reverse_tunnel",
    "protocol.smooth_handoff",
]


def test_every_design_key_is_accepted() -> None:
    assert set(DESIGN_KEYS) <= set(accepted_keys())


def test_corridor_defaults_match_the_design() -> None:
    s = load_scenario()
    assert s.name == "corridor" and s.seed == 1
    assert (s.topology.fas, s.topology.ha_delay_ms, s.topology.fa_delay_ms) == (3, 20, 2)
    assert s.topology.cn_delay_ms == 5 and s.topology.gfa is False
    assert (s.radio.profile, s.radio.air_delay_ms, s.radio.l2_handoff_ms) == ("wlan", 2, 100)
    assert s.radio.trigger_lead_ms == 200 and s.radio.air_loss == 0
    assert (s.mobility.model, s.mobility.dwell_s, s.mobility.mns) == ("corridor", 5, 1)
    assert (s.traffic.interval_ms, s.traffic.payload_bytes) == (20, 160)
    assert s.protocol.advertisement_interval_ms == 1000
    assert s.protocol.registration_lifetime_s == 600
    assert s.protocol.reverse_tunnel is True and s.protocol.smooth_handoff is False


@pytest.mark.parametrize("name", ["corridor", "ping-pong", "fast", "grid"])
def test_builtins_load(name: str) -> None:
    assert name in builtin_names()
    assert load_scenario(name).mobility.model == name


def test_overrides_are_typed() -> None:
    s = load_scenario(
        "corridor",
        ["radio.l2_handoff_ms=50", "topology.gfa=true", "mobility.model=ping-pong", "seed=7"],
    )
    assert s.radio.l2_handoff_ms == 50.0 and isinstance(s.radio.l2_handoff_ms, float)
    assert s.topology.gfa is True and s.mobility.model == "ping-pong" and s.seed == 7


def test_profile_fills_unset_radio_keys_only() -> None:
    s = load_scenario("grid", ["radio.profile=cellular"])
    assert (s.radio.air_delay_ms, s.radio.l2_handoff_ms) == (10.0, 50.0)
    s = load_scenario("grid", ["radio.profile=cellular", "radio.l2_handoff_ms=80"])
    assert s.radio.l2_handoff_ms == 80.0


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("radio.foo=1", "unknown key 'radio.foo'; [radio] accepts: profile, air_delay_ms"),
        ("nope=1", "unknown key 'nope'; accepted keys: name, description, seed"),
        ("radio.l2_handoff_ms=abc", "radio.l2_handoff_ms: Input should be a valid number"),
        ("topology.fas=2.5", "topology.fas: Input should be a valid integer"),
        ("topology.fas=0", "topology.fas: Input should be greater than or equal to 1"),
        ("topology.gfa=maybe", "topology.gfa: Input should be a valid boolean"),
        ("mobility.model=zigzag", "mobility.model: Input should be 'corridor', 'ping-pong'"),
        ("radio.l2_handoff_ms", "expected key=value"),
        ("topology.fas=1", "needs topology.fas >= 2"),
    ],
)
def test_bad_overrides_give_one_line(override: str, message: str) -> None:
    scenario = "ping-pong" if override == "topology.fas=1" else "corridor"
    with pytest.raises(ScenarioError) as info:
        load_scenario(scenario, [override])
    text = str(info.value)
    assert message in text
    assert "\n" not in text


def test_toml_file_with_wrong_type_and_unknown_key(tmp_path: Path) -> None:
    good = tmp_path / "mine.toml"
    good.write_text("[topology]\nfas = 4\n[radio]\nl2_handoff_ms = 30\n")
    s = load_scenario(str(good))
    assert s.name == "mine" and s.topology.fas == 4 and s.radio.l2_handoff_ms == 30
    bad = tmp_path / "bad.toml"
    bad.write_text('[topology]\nfas = "four"\n')
    with pytest.raises(ScenarioError, match=r"topology\.fas: Input should be a valid integer"):
        load_scenario(str(bad))
    bad.write_text("[topology]\nbogus = 1\n")
    with pytest.raises(ScenarioError, match=r"unknown key 'topology\.bogus'"):
        load_scenario(str(bad))
    bad.write_text("[topology\n")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(str(bad))
    with pytest.raises(ScenarioError, match="neither a built-in"):
        load_scenario(str(tmp_path / "missing.toml"))


def test_params_are_plain_data() -> None:
    params = load_scenario().params()
    assert params["topology"]["ha_delay_ms"] == 20.0
    assert params["radio"]["l2_handoff_ms"] == 100.0
