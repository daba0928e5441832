"""The scenario library: built-in scenarios, radio profiles and the methods available now."""

from __future__ import annotations

from dataclasses import dataclass

from mip4.sim import runner as sim_runner
from mip4.sim.scenario import RADIO_PROFILES, Scenario, builtin_names, load_scenario


def methods_available() -> tuple[str, ...]:
    """The methods the simulator implements (read at call time: tests may narrow it)."""
    return tuple(sim_runner.METHODS_AVAILABLE)


def featured_methods(scenario: Scenario) -> list[str]:
    """The methods the scenario is meant to show (its ``methods`` key), possibly empty."""
    return list(getattr(scenario, "methods", []) or [])


def select_methods(text: str | None) -> list[str]:
    """``--methods a,b`` parsed and checked (default: every available method)."""
    available = methods_available()
    if not text:
        return list(available)
    chosen = [m.strip() for m in text.split(",") if m.strip()]
    for method in chosen:
        if method not in available:
            raise sim_runner.MethodError(
                f"--methods: unknown method {method!r}; available: {', '.join(available)}"
            )
    if not chosen:
        raise sim_runner.MethodError(f"--methods: empty; available: {', '.join(available)}")
    return chosen


@dataclass(frozen=True, slots=True)
class ScenarioInfo:
    """One line of ``mip4 scenarios``."""

    name: str
    description: str
    mobility: str
    fas: int
    mns: int
    profile: str
    methods: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "description": self.description,
            "mobility": self.mobility,
            "fas": self.fas,
            "mns": self.mns,
            "radio_profile": self.profile,
            "methods": list(self.methods),
        }


def scenario_infos() -> list[ScenarioInfo]:
    """Every built-in scenario in the listing order of
    :func:`~mip4.sim.scenario.listing_order`: ``corridor`` (the default), the RFC figures by
    number, then the others by name."""
    infos = []
    for name in builtin_names():
        s = load_scenario(name)
        infos.append(
            ScenarioInfo(
                name=name,
                description=s.description,
                mobility=s.mobility.model,
                fas=s.topology.fas,
                mns=s.mobility.mns,
                profile=s.radio.profile,
                methods=tuple(featured_methods(s)),
            )
        )
    return infos


def radio_profiles() -> dict[str, dict[str, float]]:
    """The named L2 technologies and the radio keys each sets by default."""
    return {name: dict(values) for name, values in RADIO_PROFILES.items()}
