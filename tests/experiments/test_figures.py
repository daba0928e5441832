"""The sequence chart of each RFC figure's scenario shows that figure's exchange (RFC 4881).

Each case lists, in order, messages (sender, receiver, name) and notes (node, node, name)
that must appear as a subsequence of the chart's rows; the three-party handoffs of Figures 10
and 11 must show exactly their figure's exchange between the three FAs, in order, and Figure
12 a renewal of the BET that keeps it carrying traffic past its first lifetime, then its
termination. A case is skipped while its method is not in the simulator yet.
"""

from __future__ import annotations

import pytest

from mip4.experiments.compare import MethodRun, run_method
from mip4.experiments.msc import mermaid
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
    # Figure 12 (§4.3): while the MN defers its registration at the nFA, the nFA renews the
    # BET (HRqst(r)/HRply(r), non-zero lifetime); when the MN registers through it (on its
    # advertisement, §4.4), it ends the BET (HRqst(r)/HRply(r), lifetime 0)
    "rfc-fig12": [
        ("FA1", "FA2", "handoff_request_s"),
        ("FA2", "FA1", "handoff_reply_s"),
        ("FA2", "FA1", "handoff_request_r lifetime 60"),
        ("FA1", "FA2", "handoff_reply_r lifetime 60"),
        ("FA2", "MN1", "agent_advertisement"),
        ("MN1", "FA2", RRQ),
        ("FA2", "MN1", RRP),
        ("FA2", "FA1", "handoff_request_r lifetime 0"),
        ("FA1", "FA2", "handoff_reply_r lifetime 0"),
    ],
}


def figure_run(name: str) -> MethodRun:
    scenario = load_scenario(name)
    method = scenario.methods[0]
    if method not in sim_runner.METHODS_AVAILABLE:
        pytest.skip(f"{method} is not in the simulator yet")
    return run_method(scenario, method, scenario.seed)


def event_rows(run: MethodRun) -> list[tuple[str, str, str]]:
    """(sender, receiver, name) of each message, (node, node, name) of each note; an
    HRqst(r)/HRply(r) with its lifetime (``handoff_request_r lifetime 0``)."""
    return [(e.source, e.target, f"{e.label} {e.detail}".strip()) for e in run.events]


def rows(name: str) -> tuple[list[str], list[tuple[str, str, str]]]:
    run = figure_run(name)
    return run.names, event_rows(run)


def is_subsequence(wanted: list[tuple[str, str, str]], seen: list[tuple[str, str, str]]) -> bool:
    it = iter(seen)
    return all(any(row == w for row in it) for w in wanted)


@pytest.mark.parametrize("name", sorted(CASES))
def test_figure_exchange(name: str) -> None:
    names, seen = rows(name)
    assert names[:3] == ["MN1", "FA1", "FA2"] and names[-1] == "HA"
    assert is_subsequence(CASES[name], seen), "\n".join(map(str, seen))


# RFC 4881 §4.2, Figures 10 and 11: after a two-party handoff FA1 -> FA2 (FA1 stays the
# anchor, aFA), the MN moves on to FA3 before registering. oFA = FA2, nFA = FA3, aFA = FA1.
THREE_PARTY = {
    "rfc-fig10": [
        ("FA2", "FA2", "L2-ST"),  # 1a) the source trigger at the oFA
        ("FA2", "FA3", "handoff_to_third"),  # 2a) HTT: the aFA's address, the MN's L2 address
        ("FA3", "FA2", "handoff_reply_s"),  # 2a) the nFA answers HRply(s)
        ("FA3", "FA1", "handoff_request_t"),  # 3) target-triggered handoff with the aFA
        ("FA1", "FA3", "handoff_reply_t"),
        ("FA2", "FA2", "L2-LD"),  # 4a)
        ("FA2", "FA1", "handoff_request_r lifetime 0"),  # 4b) the oFA cancels its BET
        ("FA1", "FA2", "handoff_reply_r lifetime 0"),
        ("FA3", "FA3", "L2-LU"),  # 5a) the nFA delivers
    ],
    "rfc-fig11": [
        ("FA3", "FA3", "L2-TT"),  # 1b) the target trigger at the nFA
        ("FA3", "FA2", "handoff_request_t"),  # 2b) HRqst(t) to the oFA, as in two-party
        ("FA2", "FA3", "handoff_to_third"),  # 2b) the oFA answers with an HTT
        ("FA3", "FA1", "handoff_request_t"),  # 3)
        ("FA1", "FA3", "handoff_reply_t"),
        ("FA2", "FA2", "L2-LD"),  # 4a)
        ("FA2", "FA1", "handoff_request_r lifetime 0"),  # 4b)
        ("FA1", "FA2", "handoff_reply_r lifetime 0"),
        ("FA3", "FA3", "L2-LU"),  # 5a)
    ],
}
FAS = {"FA1", "FA2", "FA3"}


@pytest.mark.parametrize("name", sorted(THREE_PARTY))
def test_three_party_message_order(name: str) -> None:
    names, seen = rows(name)
    assert names == ["MN1", "FA1", "FA2", "FA3", "HA"]
    # the first, two-party handoff FA1 -> FA2 comes before; the three-party one starts once
    # the MN is at FA2 and ends with L2-LU at FA3
    start = seen.index(("FA2", "FA2", "L2-LU")) + 1
    end = seen.index(("FA3", "FA3", "L2-LU")) + 1
    between_fas = [
        row
        for row in seen[start:end]
        if row[0] in FAS
        and row[1] in FAS
        and (row[0] != row[1] or row[2].startswith(("L2-ST", "L2-TT", "L2-LD", "L2-LU")))
    ]
    assert between_fas == THREE_PARTY[name], "\n".join(map(str, seen[start:end]))
    # 5a) then the nFA delivers to the MN: its first act after L2-LU
    assert next(row for row in seen[end:] if row[0] == "FA3") == ("FA3", "FA3", "SetVisitor")


def test_figure_12_renewal_extends_the_bet() -> None:
    run = figure_run("rfc-fig12")
    messages = [e for e in run.events if e.kind == "message"]

    def when(source: str, label: str, detail: str = "") -> float:
        return next(
            e.time for e in messages if (e.source, e.label, e.detail) == (source, label, detail)
        )

    agreed = when("FA2", "handoff_reply_s")
    renewed = when("FA1", "handoff_reply_r", "lifetime 60")
    registered = when("FA2", "registration_reply")
    ended = when("FA1", "handoff_reply_r", "lifetime 0")
    assert agreed < renewed < agreed + 60 < registered < ended  # renewed before it ran out
    # the renewed BET still carries the MN's downlink after the first lifetime ran out,
    # until the MN registers: a packet every 20 ms, none lost
    downlink = [
        r.time
        for r in run.records
        if r.kind == "data"
        and r.node == "MN1"
        and r.direction == "rx"
        and r.fields.get("flow") == "down"
        and agreed + 60 < r.time < registered
    ]
    assert len(downlink) >= (registered - agreed - 60) / 0.020 - 2
    (handoff,) = run.result["handoffs"]
    assert handoff["from"] == "FA1" and handoff["to"] == "FA2"
    # the sequence chart says which is which
    text = mermaid(run.window, run.names, run.events) if run.window else ""
    assert "FA2->>FA1: " in text and "HRqst(r) lifetime 60" in text
    assert "HRqst(r) lifetime 0" in text and "HRply(r) lifetime 0" in text
