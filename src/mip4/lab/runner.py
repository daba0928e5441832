"""One lab run: daemons, CBR traffic both ways, the radio controller, metrics from real packets.

The scenario is a simulator scenario (built-in name or TOML, with ``--set`` overrides); the
run uses its FA count, mobility plan (:func:`mip4.sim.mobility.plan`, one MN), L2 handoff
time, CBR interval and payload, and protocol options. For each move the radio controller
takes the old access point's veth down and sends L2-LD to the MN, waits the L2 handoff
time, brings the new one up and sends L2-LU (RFC 4881 Table 1 triggers through the MN's
control socket). Send and arrival times come from the CBR endpoints' logs (one monotonic
clock for every namespace) and go through the simulator's own metrics
(:class:`mip4.sim.metrics.Metrics`), so the JSON is that of ``mip4 simulate``, plus a
``lab`` object (what was emulated, the measured median one-way delay of each flow, the
MN's router, the HA's bindings, the daemons' drop counters).

Core-link delay is emulated in user space (:mod:`mip4.lab.delay`: iptables NFQUEUE in the
core router's namespace, each packet held for the delay of its (in, out) link pair, see
:func:`core_delays`); wired loss with an nftables random drop in the core's forward chain
(per core traversal); jitter as a uniform extra hold per core traversal. The air
(``radio.air_delay_ms``, ``radio.air_loss``) is emulated on the MN's air bridges, which
forward every frame between the MN's radio and the access point: the delay by a second
delay queue in the MN's namespace (iptables NFQUEUE on the bridged IPv4 frames, through
br_netfilter), the loss by an nftables bridge-family random drop of IPv4 frames, each way,
as the simulator's cell does per frame (ARP is neither delayed nor lost: the simulator has
none). Bandwidth is not emulated; ``lab.emulated`` says what was.
"""

from __future__ import annotations

import hashlib
import heapq
import importlib.util
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mip4.daemon.control import request
from mip4.lab.topology import (
    AIR,
    CN_ADDRESS,
    GFA_ADDRESS,
    HA_ADDRESS,
    MN_HOME_ADDRESS,
    MN_MAC,
    MN_MAC2,
    MN_RADIO2,
    Lab,
    LabError,
    fa_address,
)
from mip4.sim.metrics import Metrics
from mip4.sim.mobility import MobilityError, default_duration, plan, requested_handoffs
from mip4.sim.runner import METHODS_AVAILABLE
from mip4.sim.trace import TraceRecord

# every method the simulator runs (issue 7: the lab runs them all), by construction
LAB_METHODS = METHODS_AVAILABLE
MULTI_INTERFACE = "multi-interface"  # RFC 4881 Appendix B: two radios, make before break
RADIOS = {"mn-radio": MN_MAC, MN_RADIO2: MN_MAC2}
PRE_METHODS = ("pre-mobile", "pre-source", "pre-target", "combined")
POST_METHODS = ("post-source", "post-target", "combined")
ANTICIPATORY_TRIGGER = {
    "pre-mobile": "L2-MT",
    "pre-source": "L2-ST",
    "pre-target": "L2-TT",
    "post-source": "L2-ST",
    "post-target": "L2-TT",
    "combined": "L2-ST",
}
CN_PORT = 5000
MN_PORT = 5001
DRAIN_S = 1.0


def _key(label: str, length: int = 16) -> str:
    return "hex:" + hashlib.sha256(label.encode()).hexdigest()[: 2 * length]


def _bool(value: bool) -> str:
    return str(value).lower()


def _line_neighbours(i: int, fas: int) -> list[int]:
    """1-based FAs wired next to FA ``i`` (the corridor: a line, as the simulator has it)."""
    return [j for j in (i - 1, i + 1) if 1 <= j <= fas]


def _esp(source: int, destination: int, tunnel: bool, direction: str, peer: int) -> str:
    mode = "tunnel" if tunnel else "transport"
    spi = 0x10000 + ((source << 12) | destination) * 2 + int(tunnel)
    key = _key(f"esp:FA{source}->FA{destination}:{mode}", 20)
    return (
        f'[[security.esp]]\npeer = "{fa_address(peer)}"\ndirection = "{direction}"\n'
        f'mode = "{mode}"\nspi = {spi}\nkey = "{key}"\n'
    )


def _fa_rfc4881(i: int, fas: int, method: str, scenario: Any) -> str:
    """PRE: neighbours with ESP SAs both ways in both modes (RFC 4881 §3.4); POST: FA-FA
    SAs with every FA up to two hops away (a three-party handoff reaches the anchor)."""
    out = ""
    if method in PRE_METHODS:
        protocol = scenario.protocol
        out += (
            f"[pre_registration]\naccess_point_ids = [{i}]\n"
            f"buffer_data = {_bool(protocol.smooth_handoff)}\n"
            f"buffer_limit = {protocol.buffer_limit}\n"
            f"use_challenge = {_bool(getattr(protocol, 'fa_challenge', False))}\n"
        )
        if getattr(protocol, "fa_challenge", False):  # RFC 4721 needs an MN-FA SA
            out += (
                f'[[security.mn_fa]]\npeer = "{MN_HOME_ADDRESS}"\nspi = {7000 + i}\n'
                f'key = "{_key(f"mn-fa:MN1:FA{i}")}"\n'
            )
        for j in _line_neighbours(i, fas):
            out += f'[[neighbours]]\naddress = "{fa_address(j)}"\naccess_point_ids = [{j}]\n'
            for tunnel in (False, True):
                out += _esp(i, j, tunnel, "out", j) + _esp(j, i, tunnel, "in", j)
    if method in POST_METHODS:
        protocol = scenario.protocol
        out += (
            f"[post_registration]\ncombined = {_bool(method == 'combined')}\n"
            f"buffer_data = {_bool(protocol.smooth_handoff)}\n"
            f"buffer_limit = {protocol.buffer_limit}\n"
        )
        near = {k for j in _line_neighbours(i, fas) for k in (j, *_line_neighbours(j, fas))}
        for j in sorted(near - {i}):
            low, high = sorted((i, j))
            out += (
                f'[[security.fa_fa]]\npeer = "{fa_address(j)}"\n'
                f'spi = {5000 + low * 1024 + high}\nkey = "{_key(f"fa-fa:{low}-{high}")}"\n'
            )
    return out


def _configs(lab: Lab, scenario: Any, method: str) -> dict[str, str]:
    protocol = scenario.protocol
    lifetime = protocol.registration_lifetime_s
    mn_ha = f'spi = 1000\nkey = "{_key("mn-ha:MN1")}"\n'
    mn_pre = ""
    if method in PRE_METHODS:
        mn_pre = (
            "[pre_registration]\n"
            f"simultaneous_bindings = {_bool(protocol.low_latency_s_bit)}\n"
            f"copies = {protocol.low_latency_copies or 1}\n"
        )
        if getattr(protocol, "fa_challenge", False):
            mn_pre += "".join(
                f'[[security.mn_fa]]\npeer = "{fa_address(i)}"\nspi = {7000 + i}\n'
                f'key = "{_key(f"mn-fa:MN1:FA{i}")}"\n'
                for i in range(1, lab.fas + 1)
            )
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
            f"[options]\nreverse_tunnel = {_bool(protocol.reverse_tunnel)}\n"
            f'encapsulation = "{protocol.encapsulation}"\n'
            f"simultaneous_bindings = {_bool(protocol.simultaneous_bindings)}\n"
            "solicit_on_link_up = "
            f"{_bool(method == 'standard-solicit' or method in PRE_METHODS)}\n"
            f"deferred_registration = {_bool(method in POST_METHODS)}\n"
            f"combined_method = {_bool(method == 'combined')}\n"
            f"uplink_buffer = {protocol.buffer_limit if protocol.smooth_handoff else 0}\n"
            "link_events = false\n"
            f"{mn_pre}"
            f'[[security.mn_ha]]\npeer = "{HA_ADDRESS}"\n{mn_ha}'
        ),
    }
    if method == MULTI_INTERFACE:
        configs["mn"] += (
            f'[multi_interface]\ninterface = "{MN_RADIO2}"\nmac = "{MN_MAC2}"\n'
            f"hold_time = {protocol.multi_interface_hold_ms / 1000.0}\n"
        )
    gfa_fa = ""
    if lab.gfa:  # RFC 4857 §11: FA-GFA and MN-GFA associations
        configs["gfa"] = (
            f'role = "gfa"\nname = "GFA"\naddress = "{GFA_ADDRESS}"\n'
            '[interfaces]\nwired = "gfa0"\n'
            f"[timers]\nmax_lifetime = {max(1800, lifetime)}\n"
            + "".join(
                f'[[security.fa_gfa]]\npeer = "{fa_address(i)}"\nspi = {2000 + i}\n'
                f'key = "{_key(f"fa-gfa:FA{i}")}"\n'
                for i in range(1, lab.fas + 1)
            )
            + f'[[security.mn_gfa]]\npeer = "{MN_HOME_ADDRESS}"\nspi = 3000\n'
            f'key = "{_key("mn-gfa:MN1")}"\n'
        )
        configs["mn"] += (
            f'[[security.mn_gfa]]\npeer = "{GFA_ADDRESS}"\nspi = 3000\n'
            f'key = "{_key("mn-gfa:MN1")}"\n'
        )
        gfa_fa = f'[options]\ngfa = "{GFA_ADDRESS}"\n'
    for i in range(1, lab.fas + 1):
        fa_gfa = (
            f'[[security.fa_gfa]]\npeer = "{GFA_ADDRESS}"\nspi = {2000 + i}\n'
            f'key = "{_key(f"fa-gfa:FA{i}")}"\n'
            if lab.gfa
            else ""
        )
        configs[f"fa{i}"] = (
            f'role = "fa"\nname = "FA{i}"\naddress = "{fa_address(i)}"\n'
            '[interfaces]\naccess = "fa-ap"\nwired = "fa-core"\n'
            f"[timers]\nadvertisement_interval = {protocol.advertisement_interval_ms / 1000.0}\n"
            f"advertisement_jitter = {protocol.advertisement_jitter}\n"
            f"registration_lifetime = {max(1800, lifetime)}\n"
            f"{gfa_fa}{fa_gfa}{_fa_rfc4881(i, lab.fas, method, scenario)}"
        )
    return configs


DELAY_QUEUE = 4340  # the core's
AIR_QUEUE = 4341  # the MN's air bridges'
LOSS_SCALE = 1_000_000  # nftables numgen: a loss rate resolved to one in a million


def _loss_rule(loss: float, match: str = "") -> list[str]:
    """An nftables rule dropping a random ``loss`` share of the packets (``match``ed)."""
    return [*match.split(), "numgen", "random", "mod", str(LOSS_SCALE), "<",
            str(round(loss * LOSS_SCALE)), "counter", "drop"]  # fmt: skip


def air_delays(scenario: Any) -> dict[str, float]:
    """One-way air delays (seconds) per (in, out) pair of the MN's namespace: a bridged
    frame's input and output interface are both its air bridge (br_netfilter)."""
    seconds = scenario.radio.air_delay_ms / 1e3
    return {f"{air}>{air}": seconds for air in AIR.values()} if seconds > 0 else {}


def core_delays(scenario: Any, fas: int) -> dict[str, float]:
    """One-way delays (seconds) per (in, out) interface pair of the core router, mapping the
    simulator's wired links (CN-HA ``cn_delay_ms``, FA-HA ``ha_delay_ms``, neighbouring FAs
    ``fa_delay_ms``; longer paths take the shortest sum) onto the lab's star."""
    topo = scenario.topology
    cn, fh, ff = topo.cn_delay_ms / 1e3, topo.ha_delay_ms / 1e3, topo.fa_delay_ms / 1e3
    pairs: dict[tuple[str, str], float] = {("cn", "ha"): cn}
    if topo.gfa:  # the FAs hang off the GFA (gfa_delay_ms), the GFA off the HA (ha_delay_ms)
        fg = topo.gfa_delay_ms / 1e3
        pairs[("gfa", "ha")] = fh
        pairs[("gfa", "cn")] = fh + cn
        fh = fg + fh
        for i in range(1, fas + 1):
            pairs[(f"fa{i}", "gfa")] = fg
    for i in range(1, fas + 1):
        pairs[(f"fa{i}", "ha")] = fh
        pairs[(f"fa{i}", "cn")] = fh + cn
        for j in range(i + 1, fas + 1):
            pairs[(f"fa{i}", f"fa{j}")] = min((j - i) * ff, 2 * fh)
    delays: dict[str, float] = {}
    for (a, b), seconds in pairs.items():
        if seconds > 0:
            delays[f"core-{a}>core-{b}"] = seconds
            delays[f"core-{b}>core-{a}"] = seconds
    return delays


class _Run:
    def __init__(self, lab: Lab, workdir: Path) -> None:
        self.lab = lab
        self.dir = workdir
        self.daemons: dict[str, subprocess.Popen[str]] = {}
        self.sockets: dict[str, Path] = {}
        self.others: list[subprocess.Popen[str]] = []

    def start_daemon(self, role: str, config: str, method: str) -> None:
        sock = self.dir / role / "control.sock"
        path = self.dir / f"{role}.toml"
        path.write_text(
            config + f'\n[daemon]\ncontrol_socket = "{sock}"\ntun = "mip4lab-{role}"\n'
            f'method = "{method}"\n'
        )
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


def _core_command(ns: str, *argv: str) -> None:
    result = subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True)
    if result.returncode != 0:
        raise LabError(f"{' '.join(argv)}: {result.stderr.strip() or 'failed'}")


def _delay_queue(
    run: _Run,
    emulation: list[tuple[str, list[str]]],
    role: str,
    queue: int,
    chains: list[str],
    delays: dict[str, float],
    jitter: float,
) -> None:
    """Queue the packets of iptables ``chains`` (``"CHAIN [match ...]"``) in ``role``'s
    namespace to a :mod:`mip4.lab.delay` process holding them for ``delays``."""
    if importlib.util.find_spec("netfilterqueue") is None:
        raise LabError(
            "link delay needs the NetfilterQueue package: pip install 'mip4[lab]' "
            "(it builds from source against libnetfilter-queue-dev, with gcc and python3-dev)"
        )
    ns = run.lab.ns(role)
    for chain in chains:
        name, *match = chain.split()
        target = ["-j", "NFQUEUE", "--queue-num", str(queue), "--queue-bypass"]
        _core_command(ns, "iptables", "-I", name, *match, *target)
        emulation.append((ns, ["iptables", "-D", name, *match, *target]))
    process = run.spawn(role, "-m", "mip4.lab.delay", str(queue), json.dumps(delays), str(jitter))
    assert process.stdout is not None and process.stderr is not None
    if process.stdout.readline().strip() != "ready":
        raise LabError(f"the delay queue in {ns} did not start: {process.stderr.read()[-300:]}")


def _nft_drop(
    emulation: list[tuple[str, list[str]]],
    ns: str,
    family: str,
    hook: str,
    rule: list[str],
    priority: int = 0,
) -> None:
    """A table ``mip4lab`` in ``ns`` whose ``hook`` chain drops what ``rule`` says."""
    _core_command(ns, "nft", "add", "table", family, "mip4lab")
    emulation.append((ns, ["nft", "delete", "table", family, "mip4lab"]))
    _core_command(ns, "nft", "add", "chain", family, "mip4lab", "lossy",
                  f"{{ type filter hook {hook} priority {priority}; }}")  # fmt: skip
    _core_command(ns, "nft", "add", "rule", family, "mip4lab", "lossy", *rule)


def _sleep_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def _move_two_radios(
    run: _Run, lab: Lab, moves: list[Any], start: float, lead: float, l2_handoff: float
) -> list[tuple[str, float, int, int, dict[str, object]]]:
    """The radio controller of method ``multi-interface`` (as :mod:`mip4.sim.radio` does
    it): the free radio joins the new cell ``lead`` before the old radio leaves its cell
    (L2-LU on its interface at the MN and at the nFA, with that radio's MAC); when both
    radios are busy the move waits for the next radio to leave its cell, then joins after
    ``l2_handoff`` (break before make). Returns the MN's L2 records."""
    events: list[tuple[str, float, int, int, dict[str, object]]] = []
    in_cell: dict[int, str] = {}  # 0-based cell -> radio attached to it
    first = moves[0].source if moves else None
    if first is not None:
        in_cell[first] = "mn-radio"
    came_up: dict[int, float] = {}
    waiting: list[Any] = []
    queue: list[tuple[float, int, str, Any]] = []
    for n, move in enumerate(moves):
        heapq.heappush(queue, (max(0.0, move.time - lead), n, "up", move))
        heapq.heappush(queue, (move.time, n, "down", move))
    order = len(moves)
    while queue:
        at, _, what, move = heapq.heappop(queue)
        _sleep_until(start + at)
        old, new = move.source, move.target
        if what == "up":
            free = [r for r in RADIOS if r not in in_cell.values()]
            if not free or new in in_cell:
                waiting.append(move)
                continue
            radio = free[0]
            lab.set_link(new + 1, True, radio)
            in_cell[new] = radio
            came_up[new] = time.monotonic()
            run.trigger(f"fa{new + 1}", "L2-LU", interface="fa-ap", mn=RADIOS[radio],
                        home=MN_HOME_ADDRESS)  # fmt: skip
            run.trigger("mn", "L2-LU", interface=radio, fa=fa_address(new + 1), ap=str(new + 1))
            continue
        leaving = in_cell.pop(old, None)
        if leaving is None:
            continue
        lab.set_link(old + 1, False, leaving)
        fields: dict[str, object] = {"make_before_break": True}
        if new in came_up:
            fields["new_link_up"] = came_up.pop(new)
        events.append(("L2-LD", time.monotonic(), old, new, fields))
        run.trigger("mn", "L2-LD", interface=leaving)
        run.trigger(f"fa{old + 1}", "L2-LD", interface="fa-ap", mn=RADIOS[leaving],
                    home=MN_HOME_ADDRESS)  # fmt: skip
        if waiting:
            order += 1
            heapq.heappush(queue, (at + l2_handoff, order, "up", waiting.pop(0)))
    return events


def run_lab(
    scenario: Any, method: str, *, lab: Lab, seed: int | None = None, keep: bool = False
) -> dict[str, Any]:
    """Run ``scenario`` with ``method`` on a lab that is up; returns the simulate-style JSON."""
    if method not in LAB_METHODS:
        raise LabError(f"unknown method {method!r} (available: {', '.join(LAB_METHODS)})")
    if scenario.topology.gfa != lab.gfa:
        raise LabError(
            "the scenario's topology.gfa does not match the lab: run 'mip4 lab down' and "
            f"'mip4 lab up{' --gfa' if scenario.topology.gfa else ''}'"
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
    try:
        handoffs = requested_handoffs(mob)
        duration = scenario.duration_s or default_duration(
            mob.model,
            cells=lab.fas,
            dwell_s=mob.dwell_s,
            handoffs=handoffs,
            fast_dwell_s=mob.fast_dwell_ms / 1000.0,
            l2_handoff_s=l2_handoff,
        )
        (mobility,) = plan(
            mob.model,
            cells=lab.fas,
            mns=1,
            dwell_s=mob.dwell_s,
            duration_s=duration,
            handoffs=handoffs,
            fast_dwell_s=mob.fast_dwell_ms / 1000.0,
            l2_handoff_s=l2_handoff,
            dwell_jitter_s=mob.dwell_jitter_s,
            rng=random.Random(f"{seed}:mobility"),
        )
    except MobilityError as exc:
        raise LabError(str(exc)) from None
    lab.workroot.mkdir(mode=0o700, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="run-", dir=lab.workroot))
    run = _Run(lab, workdir)
    l2_events: list[tuple[str, float, int, int, dict[str, object]]] = []
    emulation: list[tuple[str, list[str]]] = []  # (namespace, command) undoing a setting
    core, mn = lab.ns("core"), lab.ns("mn")
    try:
        delays = core_delays(scenario, lab.fas)
        jitter = scenario.topology.jitter_ms / 1000.0
        if delays or jitter > 0:
            _delay_queue(run, emulation, "core", DELAY_QUEUE, ["FORWARD"], delays, jitter)
        loss = scenario.topology.loss
        if loss > 0:
            _nft_drop(emulation, core, "ip", "forward", _loss_rule(loss))
        air = air_delays(scenario)
        if air:
            if not Path("/proc/sys/net/bridge").is_dir():
                raise LabError(
                    f"radio.air_delay_ms={radio.air_delay_ms}: emulating it needs the kernel's "
                    "br_netfilter (no /proc/sys/net/bridge); set radio.air_delay_ms=0"
                )
            _core_command(mn, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1")
            chains = [f"FORWARD -i {bridge}" for bridge in AIR.values()]
            _delay_queue(run, emulation, "mn", AIR_QUEUE, chains, air, 0.0)
        if radio.air_loss > 0:
            # before br_netfilter (priority 0), which the air delay queue reinjects into
            rule = _loss_rule(radio.air_loss, "ether type ip")
            _nft_drop(emulation, mn, "bridge", "forward", rule, priority=-100)
        lab.attach(mobility.start_cell + 1)
        configs = _configs(lab, scenario, method)
        for role in (
            "ha",
            *(["gfa"] if lab.gfa else []),
            *(f"fa{i}" for i in range(1, lab.fas + 1)),
        ):
            run.start_daemon(role, configs[role], method)
        run.wait_ready()
        run.start_daemon("mn", configs["mn"], method)
        run.wait_ready()
        first = mobility.start_cell + 1
        run.trigger("mn", "L2-LU", interface="mn-radio", fa=fa_address(first), ap=str(first))
        run.trigger(f"fa{first}", "L2-LU", interface="fa-ap", mn=MN_MAC, home=MN_HOME_ADDRESS)
        deadline = time.monotonic() + 5.0 + 3 * scenario.protocol.advertisement_interval_ms / 1e3
        # registered: the HA has the binding and the MN the reply (on a lossy air the reply
        # can be lost after the HA bound it; the MN then retransmits its request)
        while MN_HOME_ADDRESS not in run.status("ha")["agent"].get("bindings", {}) or (
            _registered_with(run.status("mn")["agent"]) != fa_address(first)
        ):
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
        mn_id = {"mn": MN_MAC, "home": MN_HOME_ADDRESS}
        schedule: list[tuple[float, int, str, Any]] = []
        anticipatory = ANTICIPATORY_TRIGGER.get(method)
        lead = radio.trigger_lead_ms / 1000.0
        if method == MULTI_INTERFACE:
            moves = [m for m in mobility.moves if m.time <= duration]
            l2_events += _move_two_radios(run, lab, moves, start, lead, l2_handoff)
        for n, move in enumerate(mobility.moves):
            if move.time > duration or method == MULTI_INTERFACE:
                break
            if anticipatory is not None:
                schedule.append((max(0.0, move.time - lead), n, "anticipate", move))
            schedule.append((move.time, n, "down", move))
            schedule.append((move.time + l2_handoff, n, "up", move))
        schedule.sort(key=lambda item: (item[0], item[1]))
        for at, _, what, move in schedule:
            _sleep_until(start + at)
            old_fa, new_fa = move.source + 1, move.target + 1
            old_id = {"fa": fa_address(old_fa), "ap": str(old_fa)}
            new_id = {"fa": fa_address(new_fa), "ap": str(new_fa)}
            if what == "anticipate":
                if anticipatory == "L2-MT":
                    run.trigger("mn", "L2-MT", interface="mn-radio", **new_id)
                elif anticipatory == "L2-ST":
                    run.trigger(f"fa{old_fa}", "L2-ST", **mn_id, **new_id)
                else:
                    run.trigger(f"fa{new_fa}", "L2-TT", **mn_id, **old_id)
            elif what == "down":
                lab.set_link(old_fa, False)
                l2_events.append(("L2-LD", time.monotonic(), move.source, move.target, {}))
                run.trigger("mn", "L2-LD", interface="mn-radio")
                run.trigger(f"fa{old_fa}", "L2-LD", interface="fa-ap", **mn_id)
            else:
                lab.set_link(new_fa, True)
                l2_events.append(("L2-LU", time.monotonic(), move.source, move.target, {}))
                # the nFA first: what its L2-LU installs (POST's proxy ARP for the anchor)
                # is in place when the MN, at its own, sends (or releases held) packets
                run.trigger(f"fa{new_fa}", "L2-LU", interface="fa-ap", **mn_id)
                run.trigger("mn", "L2-LU", interface="mn-radio", **new_id)
        for process in cbr.values():
            process.wait(duration + 30)
        statuses = {role: run.status(role) for role in run.sockets}
        logs = {name: json.loads((workdir / f"{name}.json").read_text()) for name in ("cn", "mn")}
    finally:
        run.stop()
        for ns, command in reversed(emulation):
            subprocess.run(["ip", "netns", "exec", ns, *command], capture_output=True)
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)

    metrics = Metrics()
    events: list[tuple[float, int, Any]] = []  # (time, 0: L2 record / 1: data, item)
    for kind, t, source, target, extra in l2_events:
        came_up = extra.get("new_link_up")
        if isinstance(came_up, float):
            extra = {**extra, "new_link_up": came_up - start}
        record = TraceRecord(
            t - start,
            "MN1",
            "l2",
            kind,
            fields={"mn": "MN1", "from": f"FA{source + 1}", "to": f"FA{target + 1}", **extra},
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
    # signalling as the simulator counts it: every control datagram sent, on the air (the
    # MN's, and the FAs' on their access links) or on the wired core
    for role, status in statuses.items():
        for interface, sent in status["daemon"].get("sent_by_interface", {}).items():
            medium = "air" if role == "mn" or interface == "fa-ap" else "wired"
            metrics.signalling[medium][0] += sent["messages"]
            metrics.signalling[medium][1] += sent["bytes"]
    records, summary = metrics.result()
    params = scenario.params()
    params["seed"] = seed
    params["duration_s"] = duration
    return {
        "scenario": scenario.name,
        "method": method,
        "seed": seed,
        "params": params,
        "handoffs": records,
        "summary": summary,
        "lab": {
            "prefix": lab.prefix,
            "workdir": str(workdir) if keep else None,
            "emulated": {
                "core_delay_ms": {k: round(v * 1e3, 3) for k, v in sorted(delays.items())},
                "core_loss": scenario.topology.loss,
                "core_jitter_ms": scenario.topology.jitter_ms,
                "air_delay_ms": radio.air_delay_ms,
                "air_loss": radio.air_loss,
                "not_emulated": ["bandwidth"],
            },
            "path_delay_ms": {
                "down": _median_delay_ms(logs["mn"]["rx"]),
                "up": _median_delay_ms(logs["cn"]["rx"]),
            },
            "registered_with": _registered_with(statuses["mn"]["agent"]),
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


def _median_delay_ms(received: list[list[float]]) -> float | None:
    """The median one-way delay of a flow's delivered packets ([seq, sent, arrival])."""
    if not received:
        return None
    return round(statistics.median(arrival - sent for _, sent, arrival in received) * 1e3, 3)


def _registered_with(agent: dict[str, Any]) -> Any:
    """The MN's default router (a two-radio MN's: its active interface's)."""
    if "interfaces" in agent:
        return agent["interfaces"].get(agent.get("active"), {}).get("default_router")
    return agent.get("default_router")


__all__ = ["LAB_METHODS", "run_lab"]
