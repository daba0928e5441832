"""`mip4 lab`: up, a run with real packets, down (root only; skipped without it, failed in CI)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mip4.cli import main
from mip4.lab.topology import Lab
from tests.conftest import require_root, require_tool
from tests.daemon.netns import netns_list

QUICK = [
    "--set", "mobility.dwell_s=1.5",
    "--set", "protocol.advertisement_interval_ms=200",
    "--set", "traffic.interval_ms=10",
]  # fmt: skip


@pytest.fixture
def prefix() -> Iterator[str]:
    require_root("network namespaces")
    name = f"mip4t-{os.getpid() % 100000}l"
    try:
        yield name
    finally:
        Lab(name).down()
    assert not [ns for ns in netns_list() if ns.startswith(f"{name}-")]


def test_lab_up_run_down(prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_tool("nft")  # wired loss emulation; .ci/run installs nftables
    assert main(["lab", "up", "--prefix", prefix]) == 0
    lab = Lab.detect(prefix)
    assert lab.fas == 3
    # a second 'up' refuses and says how to clean up
    assert main(["lab", "up", "--prefix", prefix]) == 2
    assert f"mip4 lab down --prefix {prefix}" in capsys.readouterr().err
    out = tmp_path / "result.json"
    argv = ["lab", "run", "--prefix", prefix, "--method", "standard", "--handoffs", "2"]
    assert main([*argv, *QUICK, "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert list(result)[:6] == ["scenario", "method", "seed", "params", "handoffs", "summary"]
    assert [(h["from"], h["to"]) for h in result["handoffs"]] == [("FA1", "FA2"), ("FA2", "FA3")]
    for handoff in result["handoffs"]:
        assert handoff["disruption_ms"] is not None
        assert handoff["disruption_ms"] >= handoff["l2_gap_ms"]
    assert result["lab"]["registered_with"] == "198.18.23.1"  # the last FA
    assert result["summary"]["delivered"] > 0
    signalling = result["summary"]["signalling"]
    assert signalling["air"]["messages"] > 0 and signalling["wired"]["messages"] >= 4
    # the run left no daemon or CBR process in the namespaces
    for ns in lab.existing():
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
        assert pids.stdout.strip() == "", ns
    # wired loss (nftables random drop in the core), removed after the run
    lossy = tmp_path / "lossy.json"
    argv = ["lab", "run", "--prefix", prefix, "--method", "pre-source", "--handoffs", "1"]
    assert main([*argv, *QUICK, "--set", "topology.loss=0.2", "--json", str(lossy)]) == 0
    lossy_result = json.loads(lossy.read_text())
    assert lossy_result["lab"]["emulated"]["core_loss"] == 0.2
    in_handoffs = sum(h["lost"] for h in lossy_result["handoffs"])
    assert lossy_result["summary"]["lost"] > in_handoffs + 20
    ruleset = subprocess.run(
        ["ip", "netns", "exec", f"{prefix}-core", "nft", "list", "ruleset"],
        capture_output=True,
        text=True,
    ).stdout
    assert "mip4lab" not in ruleset
    assert main(["lab", "run", "--prefix", prefix, "--method", "nope"]) == 2
    assert "not available in the lab yet" in capsys.readouterr().err
    # 'down' also ends whatever a killed run left in the namespaces
    stray = subprocess.Popen(["ip", "netns", "exec", f"{prefix}-ha", "sleep", "60"])
    time.sleep(0.3)
    assert main(["lab", "down", "--prefix", prefix]) == 0
    assert stray.wait(5) != 0
    # nothing in the root namespace either: every veth, bridge and TUN lived in the lab's
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert not [n for n in ("core-cn", "core-ha", "mn-ap1", "fa-ap", "mip4lab-") if n in links]
    assert not lab.existing()
    assert main(["lab", "run", "--prefix", prefix]) == 2
    assert "no lab is up" in capsys.readouterr().err


def test_half_built_lab_is_refused(prefix: str, capsys: pytest.CaptureFixture[str]) -> None:
    subprocess.run(["ip", "netns", "add", f"{prefix}-cn"], check=True)
    assert main(["lab", "up", "--prefix", prefix]) == 2
    assert "half-built" in capsys.readouterr().err
    assert main(["lab", "run", "--prefix", prefix]) == 2
    assert "half-built" in capsys.readouterr().err
    assert main(["lab", "down", "--prefix", prefix]) == 0
    assert not Lab(prefix).existing()


def test_pre_and_post_beat_standard_with_real_packets(prefix: str, tmp_path: Path) -> None:
    """Issue 7 §3: standard, pre-source and post-source on the lab; every handoff completes,
    the MN ends registered with the last FA, PRE and POST disrupt less than standard."""
    assert main(["lab", "up", "--prefix", prefix]) == 0
    disruption = {}
    for method in ("standard", "pre-source", "post-source"):
        out = tmp_path / f"{method}.json"
        argv = ["lab", "run", "--prefix", prefix, "--method", method, "--handoffs", "2"]
        settings = [*QUICK, "--set", "protocol.advertisement_interval_ms=500"]
        assert main([*argv, *settings, "--json", str(out)]) == 0
        result = json.loads(out.read_text())
        assert [(h["from"], h["to"]) for h in result["handoffs"]] == [
            ("FA1", "FA2"),
            ("FA2", "FA3"),
        ], method
        assert all(h["disruption_ms"] is not None for h in result["handoffs"]), method
        assert result["lab"]["registered_with"] == "198.18.23.1", method
        disruption[method] = result["summary"]["disruption_ms"]["p50"]
    assert disruption["pre-source"] < disruption["standard"], disruption
    assert disruption["post-source"] < disruption["standard"], disruption
    assert main(["lab", "down", "--prefix", prefix]) == 0


def test_lab_and_simulator_agree(prefix: str) -> None:
    """Issue 7 §3: same scenario and method, the lab's median disruption within 20 ms of the
    simulator's (core delays emulated with NFQUEUE; medians over several handoffs)."""
    from mip4.lab.runner import run_lab
    from mip4.sim.runner import simulate
    from mip4.sim.scenario import load_scenario

    require_tool("iptables")  # the lab's delay emulation (NFQUEUE); .ci/run installs it
    scenario = load_scenario(
        "corridor",
        [
            "mobility.model=ping-pong",
            "mobility.handoffs=6",
            "mobility.dwell_s=1.2",
            "traffic.interval_ms=10",
            "protocol.advertisement_interval_ms=500",
        ],
    )
    Lab(prefix, scenario.topology.fas).up()
    for method in ("pre-source", "post-source"):
        simulated: dict[str, object] = simulate(scenario, method)
        measured = run_lab(scenario, method, lab=Lab.detect(prefix))
        assert len(measured["handoffs"]) == 6, measured["handoffs"]
        assert measured["lab"]["emulated"]["core_delay_ms"]["core-ha>core-fa1"] == 20.0
        sim_p50 = simulated["summary"]["disruption_ms"]["p50"]  # type: ignore[index]
        lab_p50 = measured["summary"]["disruption_ms"]["p50"]
        assert abs(lab_p50 - sim_p50) <= 20.0, (method, lab_p50, sim_p50)
    rules = subprocess.run(
        ["ip", "netns", "exec", f"{prefix}-core", "iptables", "-S", "FORWARD"],
        capture_output=True,
        text=True,
    ).stdout
    assert "NFQUEUE" not in rules  # the run removed its delay queue


def test_lab_with_a_gfa(prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The gfa scenario (RFC 4857) on a lab built with --gfa: the HA binds the GFA."""
    assert main(["lab", "up", "--prefix", prefix]) == 0
    argv = ["lab", "run", "gfa", "--prefix", prefix, "--method", "standard", "--handoffs", "1"]
    assert main(argv) == 2
    assert "lab up --gfa" in capsys.readouterr().err
    assert main(["lab", "down", "--prefix", prefix]) == 0
    assert main(["lab", "up", "--gfa", "--prefix", prefix]) == 0
    assert Lab.detect(prefix).gfa
    out = tmp_path / "gfa.json"
    assert main([*argv, *QUICK, "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert [(h["from"], h["to"]) for h in result["handoffs"]] == [("FA1", "FA2"), ("FA2", "FA3")]
    bindings = result["lab"]["ha_bindings"]["198.18.2.10"]
    assert [b["care_of_address"] for b in bindings] == ["198.18.5.1"]
    assert result["lab"]["emulated"]["core_delay_ms"]["core-fa1>core-gfa"] == 2.0


def test_multi_interface_makes_before_break_with_real_packets(prefix: str, tmp_path: Path) -> None:
    """RFC 4881 Appendix B in the lab (two-radios: the second radio is a second bridge):
    every handoff completes with no L2 gap, the MN ends registered with the last FA with
    only that binding (the old one released), its disruption is below standard's and
    within 20 ms of the simulator's."""
    from mip4.sim.runner import simulate
    from mip4.sim.scenario import load_scenario

    assert main(["lab", "up", "--prefix", prefix]) == 0
    results = {}
    for method in ("standard", "multi-interface"):
        out = tmp_path / f"{method}.json"
        argv = ["lab", "run", "two-radios", "--prefix", prefix, "--method", method]
        assert main([*argv, "--handoffs", "2", *QUICK, "--json", str(out)]) == 0
        result = json.loads(out.read_text())
        assert [(h["from"], h["to"]) for h in result["handoffs"]] == [
            ("FA1", "FA2"),
            ("FA2", "FA3"),
        ], method
        assert all(h["disruption_ms"] is not None for h in result["handoffs"]), method
        assert result["lab"]["registered_with"] == "198.18.23.1", method
        results[method] = result
    multi = results["multi-interface"]
    assert [h["l2_gap_ms"] for h in multi["handoffs"]] == [0.0, 0.0]
    bindings = multi["lab"]["ha_bindings"]["198.18.2.10"]
    assert [b["care_of_address"] for b in bindings] == ["198.18.23.1"]
    lab_p50 = multi["summary"]["disruption_ms"]["p50"]
    assert lab_p50 < results["standard"]["summary"]["disruption_ms"]["p50"], results
    settings = [s for s in QUICK if s != "--set"] + ["mobility.handoffs=2"]
    simulated = simulate(load_scenario("two-radios", settings), "multi-interface")
    sim_p50 = simulated["summary"]["disruption_ms"]["p50"]
    assert abs(lab_p50 - sim_p50) <= 20.0, (lab_p50, sim_p50)
    assert main(["lab", "down", "--prefix", prefix]) == 0


def test_smooth_handoff_with_real_packets(prefix: str, tmp_path: Path) -> None:
    """protocol.smooth_handoff in the lab: the nFA holds and de-duplicates (SetDuplicateFilter),
    the MN holds its uplink across the L2 gap (a TUN device): pre-source loses (almost)
    nothing where it lost packets in both directions without it."""
    assert main(["lab", "up", "--prefix", prefix]) == 0
    results = {}
    for smooth in ("false", "true"):
        out = tmp_path / f"{smooth}.json"
        argv = ["lab", "run", "--prefix", prefix, "--method", "pre-source", "--handoffs", "2"]
        settings = [*QUICK, "--set", f"protocol.smooth_handoff={smooth}"]
        assert main([*argv, *settings, "--json", str(out)]) == 0
        results[smooth] = json.loads(out.read_text())
        assert results[smooth]["lab"]["registered_with"] == "198.18.23.1"
    plain, smooth_run = results["false"], results["true"]
    assert sum(h["lost"] for h in plain["handoffs"]) >= 4, plain["handoffs"]
    assert all(h["lost"] <= 1 for h in smooth_run["handoffs"]), smooth_run["handoffs"]
    assert smooth_run["summary"]["lost"] < plain["summary"]["lost"]
    drops = smooth_run["lab"]["drops"]
    assert sum(drops[f"fa{i}"]["dataplane"].get("duplicate", 0) for i in (2, 3)) > 0, drops
    assert main(["lab", "down", "--prefix", prefix]) == 0
