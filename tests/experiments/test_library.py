"""The scenario library and `mip4 scenarios`."""

from __future__ import annotations

import json

import pytest

from mip4.cli import main
from mip4.experiments.library import (
    methods_available,
    scenario_infos,
    select_methods,
)
from mip4.sim import runner as sim_runner
from mip4.sim.scenario import ScenarioError, load_scenario

REQUIRED = {
    "corridor",
    "rfc-fig2",
    "rfc-fig3",
    "rfc-fig4",
    "rfc-fig7",
    "rfc-fig8",
    "rfc-fig10",
    "rfc-fig11",
    "rfc-fig12",
    "ping-pong",
    "fast",
    "fast-train",
    "gfa",
    "lossy-air",
    "campus",
    "grid",
}
FIGURE_METHOD = {
    "rfc-fig2": "pre-source",
    "rfc-fig3": "pre-target",
    "rfc-fig4": "pre-mobile",
    "rfc-fig7": "post-source",
    "rfc-fig8": "post-target",
    "rfc-fig10": "post-source",
    "rfc-fig11": "post-target",
    "rfc-fig12": "post-source",
}


def test_every_required_scenario_is_built_in_and_described() -> None:
    infos = {i.name: i for i in scenario_infos()}
    assert set(infos) >= REQUIRED
    assert next(iter(infos)) == "corridor"
    assert all(i.description for i in infos.values())
    for name, method in FIGURE_METHOD.items():
        assert infos[name].methods == (method,)
    assert infos["campus"].mobility == "grid" and infos["campus"].mns >= 20
    assert infos["fast-train"].mobility == "fast"
    assert load_scenario("gfa").topology.gfa is True
    assert load_scenario("lossy-air").radio.air_loss > 0


@pytest.mark.parametrize("name", sorted(FIGURE_METHOD))
def test_figure_scenarios_have_one_cell_change_or_the_three_party_pair(name: str) -> None:
    s = load_scenario(name)
    if s.mobility.model == "fast":
        assert s.topology.fas == 3
    else:
        assert (s.mobility.model, s.topology.fas) == ("corridor", 2)


def test_scenarios_command_one_line_each(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios"]) == 0
    lines = capsys.readouterr().out.splitlines()
    listed = {line.split()[0] for line in lines if line and not line.startswith("radio")}
    assert listed >= REQUIRED
    assert any(line.startswith("rfc-fig2 ") and "[shows pre-source]" in line for line in lines)
    assert "wimax" in lines[-1] and "cellular" in lines[-1]


def test_scenarios_listed_in_natural_order(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines[: lines.index("")]]
    figures = [n for n in names if n.startswith("rfc-fig")]
    others = [n for n in names if n != "corridor" and not n.startswith("rfc-fig")]
    # corridor (the default), the RFC figures by number (2 before 10), then the rest by name
    assert figures == [f"rfc-fig{n}" for n in (2, 3, 4, 7, 8, 10, 11, 12)]
    assert names == ["corridor", *figures, *sorted(others)]
    assert [i.name for i in scenario_infos()] == names


def test_scenarios_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    fig4 = next(r for r in rows if r["name"] == "rfc-fig4")
    assert fig4["methods"] == ["pre-mobile"] and fig4["radio_profile"] == "wlan"


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ("wlan", (2.0, 100.0, 200.0)),
        ("cellular", (10.0, 50.0, 300.0)),
        ("wimax", (5.0, 150.0, 250.0)),
    ],
)
def test_radio_profile_selectable_on_corridor(profile: str, expected: tuple[float, ...]) -> None:
    r = load_scenario("corridor", [f"radio.profile={profile}"]).radio
    assert (r.air_delay_ms, r.l2_handoff_ms, r.trigger_lead_ms) == expected


def test_radio_profile_values_overridable() -> None:
    r = load_scenario("corridor", ["radio.profile=wimax", "radio.trigger_lead_ms=40"]).radio
    assert (r.l2_handoff_ms, r.trigger_lead_ms) == (150.0, 40.0)


def test_methods_key_checked() -> None:
    with pytest.raises(ScenarioError, match="methods: unknown method 'teleport'; known: standard"):
        load_scenario("corridor", ['methods=["teleport"]'])
    assert load_scenario("corridor", ['methods=["combined"]']).methods == ["combined"]


def test_methods_follow_the_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    assert methods_available() == sim_runner.METHODS_AVAILABLE
    monkeypatch.setattr(sim_runner, "METHODS_AVAILABLE", ("standard", "brand-new"))
    assert methods_available() == ("standard", "brand-new")
    assert select_methods(None) == ["standard", "brand-new"]
    assert select_methods("brand-new") == ["brand-new"]
    with pytest.raises(sim_runner.MethodError, match="unknown method 'x'; available: standard"):
        select_methods("standard,x")
