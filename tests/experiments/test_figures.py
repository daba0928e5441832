"""The sequence chart of each RFC figure's scenario shows that figure's exchange (RFC 4881).

Each case lists, in order, messages (sender, receiver, name) and notes (node, node, name)
that must appear as a subsequence of the chart's rows. A case is skipped while its method is
not in the simulator yet, and runs by itself once it lands.
"""

from __future__ import annotations

import pytest

from mip4.experiments.compare import run_method
from mip4.sim import runner as sim_runner
from mip4.sim.scenario import load_scenario

RRQ, RRP = "registration_request", "registration_reply"
PRE_TAIL = [("MN1", "FA2", RRQ), ("FA2", "HA", RRQ), ("HA", "FA2", RRP)]
CASES = {
    # Figure 2: L2-ST at the oFA, PrRtAdv to the MN, RegRqst through the oFA to the nFA and HA
    "rfc-fig2": [("FA1", "FA1", "L2-ST"), ("FA1", "MN1", "proxy_router_advertisement"), *PRE_TAIL],
    # Figure 3: L2-TT at the nFA, its advertisement tunnelled to the oFA, PrRtAdv to the MN
    "rfc-fig3": [
        ("FA2", "FA2", "L2-TT"),
        ("FA2", "FA1", "tunnelled_agent_advertisement"),
        ("FA1", "MN1", "proxy_router_advertisement"),
        *PRE_TAIL,
    ],
    # Figure 4: L2-MT at the MN, PrRtSol and PrRtAdv, then the request
    "rfc-fig4": [
        ("MN1", "MN1", "L2-MT"),
        ("MN1", "FA1", "proxy_router_solicitation"),
        ("FA1", "MN1", "proxy_router_advertisement"),
        *PRE_TAIL,
    ],
    # Figure 7: L2-ST at the oFA, HRqst/HRply before L2-LD, the BET carries traffic after
    "rfc-fig7": [
        ("FA1", "FA1", "L2-ST"),
        ("FA1", "FA2", "handoff_request_s"),
        ("FA2", "FA1", "handoff_reply_s"),
        ("MN1", "MN1", "L2-LD"),
        ("MN1", "MN1", "L2-LU"),
    ],
    # Figure 8: L2-TT at the nFA, which sends the HRqst
    "rfc-fig8": [
        ("FA2", "FA2", "L2-TT"),
        ("FA2", "FA1", "handoff_request_t"),
        ("FA1", "FA2", "handoff_reply_t"),
        ("MN1", "MN1", "L2-LD"),
        ("MN1", "MN1", "L2-LU"),
    ],
    # Figure 12: the MN registers through the nFA, which ends the BET with an HRqst(r)
    "rfc-fig12": [
        ("FA1", "FA2", "handoff_request_s"),
        ("MN1", "FA2", RRQ),
        ("FA2", "MN1", RRP),
        ("FA2", "FA1", "handoff_request_r"),
        ("FA1", "FA2", "handoff_reply_r"),
    ],
}


def rows(name: str) -> tuple[list[str], list[tuple[str, str, str]]]:
    scenario = load_scenario(name)
    method = scenario.methods[0]
    if method not in sim_runner.METHODS_AVAILABLE:
        pytest.skip(f"{method} is not in the simulator yet")
    run = run_method(scenario, method, scenario.seed)
    return run.names, [(e.source, e.target, e.label) for e in run.events]


def is_subsequence(wanted: list[tuple[str, str, str]], seen: list[tuple[str, str, str]]) -> bool:
    it = iter(seen)
    return all(any(row == w for row in it) for w in wanted)


@pytest.mark.parametrize("name", sorted(CASES))
def test_figure_exchange(name: str) -> None:
    names, seen = rows(name)
    assert names[:3] == ["MN1", "FA1", "FA2"] and names[-1] == "HA"
    assert is_subsequence(CASES[name], seen), "\n".join(map(str, seen))


@pytest.mark.parametrize("name", ["rfc-fig10", "rfc-fig11"])
def test_three_party_figures_show_the_third_fa(name: str) -> None:
    names, seen = rows(name)
    assert names == ["MN1", "FA1", "FA2", "FA3", "HA"]
    inter_fa = [(a, b) for a, b, label in seen if label.startswith("handoff_")]
    assert ("FA1", "FA2") in inter_fa or ("FA2", "FA1") in inter_fa  # the first handoff
    assert any("FA3" in pair for pair in inter_fa)  # the move on to the third FA
