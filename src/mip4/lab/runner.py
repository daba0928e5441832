"""One lab run: daemons, CBR traffic both ways, the radio controller, metrics from real packets.

The scenario is a simulator scenario (built-in name or TOML, with ``--set`` overrides); the
run uses its FA count, mobility plan (:func:`mip4.sim.mobility.plan`, one MN), L2 handoff
time, CBR interval and payload, and protocol options. For each move the radio controller
takes the old access point's veth down and sends L2-LD to the MN, waits the L2 handoff
time, brings the new one up and sends L2-LU (RFC 4881 Table 1 triggers through the MN's
control socket). Send and arrival times come from the CBR endpoints' logs (one monotonic
clock for every namespace) and go through the simulator's own metrics
(:class:`mip4.sim.metrics.Metrics`), so the JSON is that of ``mip4 simulate``, plus a
``lab`` object (daemon counters, what the lab does not emulate).

Core-link delay and loss are not emulated yet (NFQUEUE / nftables): wired hops have the
namespaces' own sub-millisecond delay; ``lab.emulated`` says so.
"""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mip4.daemon.control import request
from mip4.lab.topology import (
    CN_ADDRESS,
    HA_ADDRESS,
    MN_HOME_ADDRESS,
    MN_MAC,
    Lab,
    LabError,
    fa_address,
)

LAB_METHODS = ("standard", "standard-solicit")
CN_PORT = 5000
MN_PORT = 5001
DRAIN_S = 1.0


def _key(label: str) -> str:
    return "hex:" + hashlib.sha256(label.encode()).hexdigest()[:32]


def _configs(lab: Lab, scenario: Any, method: str) -> dict[str, str]:
    protocol = scenario.protocol
    lifetime = protocol.registration_lifetime_s
    mn_ha = f'spi = 1000\nkey = "{_key("mn-ha:MN1")}"\n'
    configs = {
        "ha": (
            f'role = "ha"\nname = "HA"\naddress = "{HA_ADDRESS}"\n'
            '[interfaces]\nhome = "ha-home"\n'
            f"[timers]\nmax_lifetime = {max(1800, lifetime)}\n"
            f'[[security.mn_ha]]\npeer = "{MN_HOME_ADDRESS}"\n{mn_ha}'
        ),
        "mn": (
            f'role = "mn"\nname = "MN1"\nhome_address = "{MN_HOME_ADDRESS}"\n'
            f'home_agent = "{HA_ADDRESS}"\nmac = "{MN_MAC}"\n'
            '[interfaces]\nradio = "mn-radio"\n'
            f"[timers]\nregistration_lifetime = {lifetime}\n"
            f"[options]\nreverse_tunnel = {str(protocol.reverse_tunnel).lower()}\n"
            f'encapsulation = "{protocol.encapsulation}"\n'
            f"simultaneous_bindings = {str(protocol.simultaneous_bindings).lower()}\n"
            f"solicit_on_link_up = {str(method == 'standard-solicit').lower()}\n"
            "link_events = false\n"
            f'[[security.mn_ha]]\npeer = "{HA_ADDRESS}"\n{mn_ha}'
        ),
    }
    for i in range(1, lab.fas + 1):
        neighbours = "".join(
            f'[[neighbours]]\naddress = "{fa_address(j)}"\naccess_point_ids = [{j}]\n'
            for j in range(1, lab.fas + 1)
            if j != i
        )
        configs[f"fa{i}"] = (
            f'role = "fa"\nname = "FA{i}"\naddress = "{fa_address(i)}"\n'
            '[interfaces]\naccess = "fa-ap"\nwired = "fa-core"\n'
            f"[timers]\nadvertisement_interval = {protocol.advertisement_interval_ms / 1000.0}\n"
            f"advertisement_jitter = {protocol.advertisement_jitter}\n"
            f"registration_lifetime = {max(1800, lifetime)}\n"
            f"{neighbours}"
        )
    return configs


class _Run:
    def __init__(self, lab: Lab, workdir: Path) -> None:
        self.lab = lab
        self.dir = workdir
        self.daemons: dict[str, subprocess.Popen[str]] = {}
        self.sockets: dict[str, Path] = {}
        self.others: list[subprocess.Popen[str]] = []

    def start_daemon(self, role: str, config: str) -> None:
        sock = self.dir / role / "control.sock"
        path = self.dir / f"{role}.toml"
        path.write_text(config + f'\n[daemon]\ncontrol_socket = "{sock}"\ntun = "mip4lab-{role}"\n')
        log = (self.dir / f"{role}.log").open("w")
        self.daemons[role] = subprocess.Popen(
            ["ip", "netns", "exec", self.lab.ns(role), sys.executable, "-m", "mip4.cli",
             "agent", "--config", str(path), "--log-level", "info"],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        self.sockets[role] = sock

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        pending = dict(self.sockets)
        while pending and time.monotonic() < deadline:
            for role, sock in list(pending.items()):
                if self.daemons[role].poll() is not None:
                    raise LabError(f"the {role} daemon exited; see {self.dir / role}.log")
                try:
                    if request(sock, {"command": "status"}).get("ok"):
                        del pending[role]
                except (OSError, ValueError):
                    pass
            time.sleep(0.05)
        if pending:
            raise LabError(f"daemons not ready: {', '.join(pending)}")

    def status(self, role: str) -> dict[str, Any]:
        answer = request(self.sockets[role], {"command": "status"})
        status: dict[str, Any] = answer["status"]
        return status

    def trigger(self, role: str, kind: str, **params: str) -> None:
        answer = request(self.sockets[role], {"command": "trigger", "kind": kind, "params": params})
        if not answer.get("ok"):
            raise LabError(f"{kind} at {role}: {answer.get('error')}")

    def spawn(self, role: str, *argv: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            ["ip", "netns", "exec", self.lab.ns(role), sys.executable, *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.others.append(process)
        return process

    def stop(self) -> None:
        for process in self.daemons.values():
            if process.poll() is None:
                process.terminate()
        for process in self.daemons.values():
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for process in self.others:
            if process.poll() is None:
                process.kill()
            process.wait()


def _sleep_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def run_lab(
    scenario: Any, method: str, *, lab: Lab, seed: int | None = None, keep: Path | None = None
) -> dict[str, Any]:
    """Run ``scenario`` with ``method`` on a lab that is up; returns the simulate-style JSON."""
    from mip4.sim.metrics import Metrics
    from mip4.sim.mobility import default_duration, plan
    from mip4.sim.trace import TraceRecord

    if method not in LAB_METHODS:
        raise LabError(
            f"method {method!r} is not available in the lab yet (available: "
            f"{', '.join(LAB_METHODS)}; PRE/POST need the FA options of issues 4/5 in the "
            "daemon configuration)"
        )
    if scenario.mobility.mns != 1:
        raise LabError("the lab runs one MN: set mobility.mns=1")
    if scenario.topology.fas != lab.fas:
        raise LabError(
            f"the lab is up with {lab.fas} FAs but the scenario has {scenario.topology.fas}: "
            "run 'mip4 lab down' and 'mip4 lab up --fas N'"
        )
    seed = scenario.seed if seed is None else seed
    mob, radio, traffic = scenario.mobility, scenario.radio, scenario.traffic
    l2_handoff = radio.l2_handoff_ms / 1000.0
    duration = scenario.duration_s or default_duration(
        mob.model,
        cells=lab.fas,
        dwell_s=mob.dwell_s,
        handoffs=mob.handoffs,
        fast_dwell_s=mob.fast_dwell_ms / 1000.0,
        l2_handoff_s=l2_handoff,
    )
    (mobility,) = plan(
        mob.model,
        cells=lab.fas,
        mns=1,
        dwell_s=mob.dwell_s,
        duration_s=duration,
        handoffs=mob.handoffs,
        fast_dwell_s=mob.fast_dwell_ms / 1000.0,
        l2_handoff_s=l2_handoff,
        dwell_jitter_s=mob.dwell_jitter_s,
        rng=random.Random(f"{seed}:mobility"),
    )
    workdir = Path(tempfile.mkdtemp(prefix="mip4lab-"))
    run = _Run(lab, workdir)
    l2_events: list[tuple[str, float, int, int]] = []
    try:
        lab.attach(mobility.start_cell + 1)
        configs = _configs(lab, scenario, method)
        for role in ("ha", *(f"fa{i}" for i in range(1, lab.fas + 1))):
            run.start_daemon(role, configs[role])
        run.wait_ready()
        run.start_daemon("mn", configs["mn"])
        run.wait_ready()
        deadline = time.monotonic() + 5.0 + 3 * scenario.protocol.advertisement_interval_ms / 1e3
        while MN_HOME_ADDRESS not in run.status("ha")["agent"].get("bindings", {}):
            if time.monotonic() > deadline:
                raise LabError("the MN did not register before the run")
            time.sleep(0.05)
        start = time.monotonic() + 0.5
        end = start + duration
        interval = traffic.interval_ms / 1000.0
        size = str(traffic.payload_bytes)
        cbr = {
            "down": run.spawn("cn", "-m", "mip4.lab.cbr", str(CN_PORT), MN_HOME_ADDRESS,
                              str(MN_PORT), str(interval), size, str(start), str(end),
                              str(workdir / "cn.json")),
            "up": run.spawn("mn", "-m", "mip4.lab.cbr", str(MN_PORT), CN_ADDRESS, str(CN_PORT),
                            str(interval), size, str(start), str(end),
                            str(workdir / "mn.json")),
        }  # fmt: skip
        for move in mobility.moves:
            if move.time > duration:
                break
            _sleep_until(start + move.time)
            lab.set_link(move.source + 1, False)
            l2_events.append(("L2-LD", time.monotonic(), move.source, move.target))
            run.trigger("mn", "L2-LD", interface="mn-radio")
            _sleep_until(l2_events[-1][1] + l2_handoff)
            lab.set_link(move.target + 1, True)
            l2_events.append(("L2-LU", time.monotonic(), move.source, move.target))
            run.trigger("mn", "L2-LU", interface="mn-radio")
        for process in cbr.values():
            process.wait(duration + 30)
        statuses = {role: run.status(role) for role in run.sockets}
        logs = {name: json.loads((workdir / f"{name}.json").read_text()) for name in ("cn", "mn")}
    finally:
        run.stop()
        if keep is None:
            subprocess.run(["rm", "-rf", str(workdir)], check=False)

    metrics = Metrics()
    events: list[tuple[float, int, Any]] = []  # (time, 0: L2 record / 1: data, item)
    for kind, t, source, target in l2_events:
        record = TraceRecord(
            t - start,
            "MN1",
            "l2",
            kind,
            fields={"mn": "MN1", "from": f"FA{source + 1}", "to": f"FA{target + 1}"},
        )
        events.append((t - start, 0, record))
    for flow, sender, receiver in (("down", "cn", "mn"), ("up", "mn", "cn")):
        node_tx = "CN" if sender == "cn" else "MN1"
        node_rx = "MN1" if receiver == "mn" else "CN"
        for seq, t in logs[sender]["tx"]:
            events.append((t - start, 1, (node_tx, "tx", flow, seq, t - start)))
        for seq, sent, arrival in logs[receiver]["rx"]:
            events.append((arrival - start, 1, (node_rx, "rx", flow, seq, sent - start)))
    events.sort(key=lambda e: (e[0], e[1]))
    for t, tag, item in events:
        if tag == 0:
            metrics.record(item)
        else:
            node, direction, flow, seq, sent = item
            metrics.data(t, node, "", "air", direction, flow, "MN1", seq, sent,
                         traffic.payload_bytes)  # fmt: skip
    handoffs, summary = metrics.result()
    params = scenario.params()
    params["seed"] = seed
    params["duration_s"] = duration
    return {
        "scenario": scenario.name,
        "method": method,
        "seed": seed,
        "params": params,
        "handoffs": handoffs,
        "summary": summary,
        "lab": {
            "prefix": lab.prefix,
            "emulated": {"core_delay": False, "core_loss": False, "air_delay": False},
            "registered_with": statuses["mn"]["agent"].get("default_router"),
            "ha_bindings": statuses["ha"]["agent"].get("bindings", {}),
            "drops": {
                role: {
                    "agent": s.get("agent_drops", {}),
                    "dataplane": s["dataplane"].get("drops", {}),
                    "daemon": s["daemon"].get("drops", {}),
                }
                for role, s in statuses.items()
            },
        },
    }


__all__ = ["LAB_METHODS", "run_lab"]
