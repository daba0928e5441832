"""`mip4 lab`: up, a run with real packets, down (root only; skipped without it, failed in CI)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mip4.cli import main
from mip4.lab import topology
from mip4.lab.runner import LAB_METHODS
from mip4.lab.topology import Lab, LabError
from mip4.sim.runner import METHODS_AVAILABLE
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
    assert not Lab(name).workroot.exists()


def _last_fa(result: dict[str, object]) -> str:
    """The address of the FA the run's last handoff went to."""
    handoffs = result["handoffs"]
    assert isinstance(handoffs, list) and handoffs
    return f"198.18.{20 + int(handoffs[-1]['to'][2:])}.1"


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
    # the run left no daemon or CBR process in the namespaces, nor its files
    for ns in lab.existing():
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
        assert pids.stdout.strip() == "", ns
        # addressed from 198.18.0.0/15 only: no IPv6 (link-local) address anywhere
        v6 = subprocess.run(["ip", "-n", ns, "-6", "addr"], capture_output=True, text=True)
        assert v6.stdout.strip() == "", (ns, v6.stdout)
    assert list(lab.workroot.iterdir()) == []
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
    assert "unknown method 'nope'" in capsys.readouterr().err
    # mobility.handoffs where it cannot apply is refused, naming the key
    argv = ["lab", "run", "--prefix", prefix, "--handoffs", "2", "--set", "mobility.model=grid"]
    assert main(argv) == 2
    assert "mobility.handoffs: does not apply to model 'grid'" in capsys.readouterr().err
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
    argv = ["lab", "run", "gfa", "--prefix", prefix, "--method", "standard", "--handoffs", "2"]
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


def test_lab_methods_are_the_simulators() -> None:
    """Issue 7: the lab runs every method the simulator runs (the list is the simulator's)."""
    assert tuple(LAB_METHODS) == tuple(METHODS_AVAILABLE)


def test_every_other_method_with_real_packets(prefix: str, tmp_path: Path) -> None:
    """Issue 7 §2-3 for the methods the other lab tests do not run (pre-target is the only
    path using tunnel-mode ESP between FAs): every handoff completes, the MN ends registered
    with the last FA (the HA binds it alone), and each disrupts far less than standard does
    in the simulator; the RFC 4881 ones within 20 ms of the simulator. post-target walks
    the corridor back (--handoffs 3: FA1, FA2, FA3, FA2)."""
    from mip4.sim.runner import simulate
    from mip4.sim.scenario import load_scenario

    tested = {"standard", "pre-source", "post-source", "multi-interface"}  # the other tests
    others = [m for m in LAB_METHODS if m not in tested]
    assert others == ["standard-solicit", "pre-mobile", "pre-target", "post-target", "combined"]
    assert main(["lab", "up", "--prefix", prefix]) == 0
    settings = [*QUICK, "--set", "protocol.advertisement_interval_ms=500"]
    sim_settings = [s for s in settings if s != "--set"]
    standard = simulate(
        load_scenario("corridor", [*sim_settings, "mobility.handoffs=2"]), "standard"
    )
    standard_p50 = standard["summary"]["disruption_ms"]["p50"]
    medians = {}
    for method in others:
        handoffs = 3 if method == "post-target" else 2
        out = tmp_path / f"{method}.json"
        argv = ["lab", "run", "--prefix", prefix, "--method", method]
        assert main([*argv, "--handoffs", str(handoffs), *settings, "--json", str(out)]) == 0
        result = json.loads(out.read_text())
        path = [(h["from"], h["to"]) for h in result["handoffs"]]
        assert path == [("FA1", "FA2"), ("FA2", "FA3"), ("FA3", "FA2")][:handoffs], method
        assert all(h["disruption_ms"] is not None for h in result["handoffs"]), method
        last = _last_fa(result)
        assert result["lab"]["registered_with"] == last, method
        bindings = result["lab"]["ha_bindings"]["198.18.2.10"]
        assert [b["care_of_address"] for b in bindings] == [last], method
        lab_p50 = result["summary"]["disruption_ms"]["p50"]
        medians[method] = lab_p50
        assert lab_p50 < standard_p50 / 2, (method, lab_p50, standard_p50)
        if method != "standard-solicit":
            scenario = load_scenario("corridor", [*sim_settings, f"mobility.handoffs={handoffs}"])
            sim_p50 = simulate(scenario, method)["summary"]["disruption_ms"]["p50"]
            assert abs(lab_p50 - sim_p50) <= 20.0, (method, lab_p50, sim_p50)
    print("lab median disruption (ms):", medians)
    assert main(["lab", "down", "--prefix", prefix]) == 0


def test_air_delay_and_loss_are_emulated(prefix: str, tmp_path: Path) -> None:
    """radio.air_delay_ms and radio.air_loss act on the real packets: the measured one-way
    delay grows by the air delay (each flow crosses the air once), and a lossy air loses
    packets with no handoff at all; the emulation is gone after the run."""
    require_tool("iptables")
    require_tool("nft")
    assert main(["lab", "up", "--prefix", prefix]) == 0
    steady = ["--handoffs", "0", "--set", "mobility.dwell_s=3", "--set", "traffic.interval_ms=10"]
    results = {}
    for name, air in (("clear", ["radio.air_delay_ms=0"]),
                      ("air", ["radio.air_delay_ms=30", "radio.air_loss=0.1"])):  # fmt: skip
        out = tmp_path / f"{name}.json"
        argv = ["lab", "run", "--prefix", prefix, "--method", "standard", *steady]
        assert main([*argv, *(f"--set={a}" for a in air), "--json", str(out)]) == 0
        results[name] = json.loads(out.read_text())
        assert results[name]["handoffs"] == []
    clear, air = results["clear"], results["air"]
    assert air["lab"]["emulated"]["air_delay_ms"] == 30.0
    assert air["lab"]["emulated"]["air_loss"] == 0.1
    assert clear["summary"]["lost"] == 0
    sent = air["summary"]["sent"]
    assert 0.05 * sent < air["summary"]["lost"] < 0.16 * sent, air["summary"]  # 10% per crossing
    for flow in ("down", "up"):
        added = air["lab"]["path_delay_ms"][flow] - clear["lab"]["path_delay_ms"][flow]
        assert 27.0 <= added <= 40.0, (flow, air["lab"]["path_delay_ms"], clear["lab"])
    mn = f"{prefix}-mn"
    rules = subprocess.run(["ip", "netns", "exec", mn, "iptables", "-S"],
                           capture_output=True, text=True).stdout  # fmt: skip
    assert "NFQUEUE" not in rules
    ruleset = subprocess.run(["ip", "netns", "exec", mn, "nft", "list", "ruleset"],
                             capture_output=True, text=True).stdout  # fmt: skip
    assert "mip4lab" not in ruleset
    assert main(["lab", "down", "--prefix", prefix]) == 0


def _start_run(prefix: str) -> tuple[subprocess.Popen[bytes], Lab]:
    """A 'mip4 lab run' in a child process, returned once its daemons answer."""
    lab = Lab.detect(prefix)
    # core delay and loss, air delay (the wlan profile): both delay queues, an nft table
    argv = [sys.executable, "-m", "mip4.cli", "lab", "run", "--prefix", prefix, "--handoffs",
            "1", "--set", "mobility.dwell_s=20", "--set", "topology.loss=0.01"]  # fmt: skip
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not list(lab.workroot.glob("run-*/mn.json")) and not list(
        lab.workroot.glob("run-*/mn/control.sock")
    ):
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
        assert time.monotonic() < deadline, "the run did not start its daemons"
        time.sleep(0.1)
    time.sleep(1.0)  # the MN registered, the CBR flows run
    return child, lab


def _left_in(lab: Lab) -> list[str]:
    """Whatever a run left in the lab: processes, TUN devices, emulation rules, files."""
    left = []
    for ns in lab.existing():
        run = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
        left += [f"{ns}: process {p}" for p in run.stdout.split()]
        run = subprocess.run(["ip", "-n", ns, "-o", "link", "show", "type", "tun"],
                             capture_output=True, text=True)  # fmt: skip
        left += [f"{ns}: tun {line.split()[1]}" for line in run.stdout.splitlines()]
        run = subprocess.run(["ip", "netns", "exec", ns, "iptables", "-S"],
                             capture_output=True, text=True)  # fmt: skip
        left += [f"{ns}: {r}" for r in run.stdout.splitlines() if "NFQUEUE" in r]
        run = subprocess.run(["ip", "netns", "exec", ns, "nft", "list", "tables"],
                             capture_output=True, text=True)  # fmt: skip
        left += [f"{ns}: {t}" for t in run.stdout.splitlines() if "mip4lab" in t]
    if lab.workroot.exists():
        left += [str(p) for p in lab.workroot.iterdir()]
    return left


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signalled_run_cleans_up(prefix: str, signum: int) -> None:
    """Ctrl-C and SIGTERM of 'mip4 lab run': it stops its daemons, CBR endpoints and delay
    queues and removes its rules and files; then 'lab down' leaves no namespace, veth,
    TUN device, process or work folder."""
    require_tool("iptables")
    require_tool("nft")
    assert main(["lab", "up", "--prefix", prefix]) == 0
    child, lab = _start_run(prefix)
    assert any("process" in item for item in _left_in(lab))  # the run is live
    child.send_signal(signum)
    assert child.wait(30) == 130
    assert child.stderr is not None and b"interrupted" in child.stderr.read()
    assert _left_in(lab) == []
    assert main(["lab", "down", "--prefix", prefix]) == 0
    assert not lab.existing() and not lab.workroot.exists()
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert not [n for n in ("core-cn", "mn-ap1", "fa-ap", "mn-air", "mip4lab-") if n in links]


def test_down_after_a_killed_run(prefix: str) -> None:
    """SIGKILL cannot be handled: 'lab down' ends the daemons the run left and removes its
    work folder with the namespaces."""
    assert main(["lab", "up", "--prefix", prefix]) == 0
    child, lab = _start_run(prefix)
    child.kill()
    child.wait(10)
    assert _left_in(lab) != []  # orphaned daemons and files
    assert main(["lab", "down", "--prefix", prefix]) == 0
    assert not lab.existing() and not lab.workroot.exists()
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(lab.workroot) not in ps  # no daemon of that run survives


def test_down_touches_only_its_own_lab(prefix: str) -> None:
    """A lab under a longer prefix ('<prefix>-x') is not this lab's: down leaves it."""
    mine, other = Lab(prefix, 1), Lab(f"{prefix}-x", 1)
    assert main(["lab", "up", "--prefix", other.prefix, "--fas", "1"]) == 0
    try:
        assert main(["lab", "up", "--prefix", prefix, "--fas", "1"]) == 0
        assert sorted(mine.existing()) == sorted(mine.ns(r) for r in mine.roles)
        assert Lab.detect(prefix) == mine
        assert main(["lab", "down", "--prefix", prefix]) == 0
        assert sorted(other.existing()) == sorted(other.ns(r) for r in other.roles)
    finally:
        other.down()
    assert not other.existing()


def test_down_reports_namespaces_it_could_not_delete(monkeypatch: pytest.MonkeyPatch) -> None:
    """An 'ip netns del' that fails is named in the error, not ignored."""
    monkeypatch.setattr(topology, "namespaces", lambda: ["mip4t-gone-cn", "mip4t-gone-ha"])
    with pytest.raises(
        LabError, match=r"could not delete namespaces: mip4t-gone-cn \(.+\); mip4t-gone-ha"
    ):
        Lab("mip4t-gone").down()
