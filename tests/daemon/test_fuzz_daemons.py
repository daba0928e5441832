"""An FA and an MN daemon survive random input on every socket they read (issue 7 §3).

10,000 random datagrams per daemon on each socket type: UDP 434, the raw ICMP and ESP
sockets, each raw tunnel socket (IP in IP, minimal, GRE), and the ``AF_PACKET`` listener of
the link where untrusted MNs (at an FA) or any sender on the radio (at an MN) reach it, with
frames built to pass its BPF filter (ICMP, ESP, UDP to 434) to the daemon's parser. Then a
burst of bad triggers. The agents' state (visitors, pending requests, BETs, the MN's
registration and router, the HA's binding) is unchanged, nothing raised inside a daemon,
and the tunnel still carries traffic. (The HA's own run is in ``test_namespaces.py``.)
"""

from __future__ import annotations

import json
from typing import Any

from mip4.daemon.control import request
from tests.daemon.netns import (
    FA_ADDRESS,
    FA_CONFIG,
    HA_CONFIG,
    HOME_ADDRESS,
    MN_CONFIG,
    RECEIVER,
    SENDER,
    Daemon,
    Testbed,
    wait_for,
)

DATAGRAMS = 10_000  # per daemon and per socket type

# argv: kind (udp | raw:<protocol> | link:<interface>:<mac>), destination, seed, count
FUZZ = """
import random, socket, struct, sys
kind, destination, seed, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
dst = socket.inet_aton(destination)

def checksum(data):
    if len(data) % 2:
        data += b"\\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF

def payload(low, high, first):
    data = bytearray(rng.randbytes(rng.randrange(low, high)))
    if data and rng.random() < 0.5:
        data[0] = rng.choice(first)
    return bytes(data)

def frame():
    protocol = rng.choice([1, 17, 50])
    if protocol == 17:
        body = payload(0, 160, [1, 3, 4, 5, 16, 17, 20, 21, 22])  # RRQ, RRP, handoff ...
        udp = struct.pack("!HHHH", rng.choice([434, rng.randrange(1, 65536)]), 434,
                          8 + len(body), 0) + body  # checksum 0: none (RFC 768)
        if rng.random() < 0.3:
            udp = udp[: rng.randrange(0, len(udp) + 1)]  # truncated
        inner = udp
    elif protocol == 1:
        icmp = bytearray(payload(4, 120, [9, 10, 3, 11]))  # adv, sol, unreachable
        if rng.random() < 0.5:
            icmp[2:4] = b"\\0\\0"
            icmp[2:4] = struct.pack("!H", checksum(bytes(icmp)))
        inner = bytes(icmp)
    else:
        inner = payload(0, 120, [0])
    target = rng.choice([dst, dst, b"\\xff\\xff\\xff\\xff", bytes([224, 0, 0, 11])])
    source = bytes([198, 18, rng.randrange(256), rng.randrange(1, 255)])
    length = 20 + len(inner) if rng.random() < 0.8 else rng.randrange(0, 65536)
    version_ihl = 0x45 if rng.random() < 0.9 else rng.randrange(256)
    header = bytearray(struct.pack("!BBHHHBBH4s4s", version_ihl, 0, length, rng.randrange(65536),
                                   0, rng.choice([1, 64, 255]), protocol, 0, source, target))
    if rng.random() < 0.8:
        header[10:12] = struct.pack("!H", checksum(bytes(header)))
    return bytes(header) + inner

if kind == "udp":
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    send = lambda: sock.sendto(payload(0, 200, [1, 3, 4, 5, 16, 17, 20, 21, 22]),
                               (destination, 434))
elif kind.startswith("raw:"):
    protocol = int(kind[4:])
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, protocol)
    def send():
        data = bytearray(rng.randbytes(rng.randrange(8, 120)))
        if protocol in (4, 55, 47) and len(data) >= 20 and rng.random() < 0.5:
            data[0] = 0x45  # looks like an inner IPv4 header
        if protocol == 1 and rng.random() < 0.5:
            data[0] = rng.choice([3, 9, 10])
        sock.sendto(bytes(data), (destination, 0))
else:
    _, interface, mac = kind.split(":", 2)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
    address = (interface, 0x0800, 0, 0, bytes.fromhex(mac.replace(":", "")))
    send = lambda: sock.sendto(frame(), address)

import time
for i in range(count):
    if i % 10 == 9:
        time.sleep(0.002)  # paced: the point is the daemon's parsing, not socket overflow
    try:
        send()
    except OSError:
        pass  # e.g. a raw send the local stack refuses (EINVAL for a bad length)
print("sent", flush=True)
"""

BAD_TRIGGERS: list[Any] = [
    {"command": "trigger", "kind": "L2-XX", "params": {}},
    {"command": "trigger", "kind": "L2-ST", "params": {"mn": "zz", "fa": "1.2.3"}},
    {"command": "trigger", "kind": "L2-LU", "params": {"interface": 3}},
    {"command": "trigger", "kind": "L2-LD", "params": {"bogus": "1"}},
    {"command": "trigger", "kind": "L2-TT", "params": {"mn": "02:00:00:00:09:09"}},
    {"command": "nope"},
    ["not", "an", "object"],
]
REFUSED = {  # well-formed, but refused by the agent (a bad-trigger drop)
    "fa": {"command": "trigger", "kind": "L2-MT", "params": {"fa": FA_ADDRESS}},
    "mn": {"command": "trigger", "kind": "L2-LU", "params": {"interface": "wlan9"}},
}


# The FA runs POST-REGISTRATION (RFC 4881 §4) with one neighbour: random HRqst/HRply
# (types 16, 17) must build no BET.
FA_POST_CONFIG = (
    FA_CONFIG
    + """
[[security.fa_fa]]
peer = "198.18.1.3"
spi = 1200
key = "hex:0f0e0d0c0b0a09080706050403020100"
[post_registration]
tunnel_lifetime = 60
"""
)


def _registered(bed: Testbed) -> tuple[Daemon, Daemon, Daemon]:
    ha = bed.start("ha", HA_CONFIG)
    fa = bed.start("fa", FA_POST_CONFIG)
    ha.wait_ready()
    fa.wait_ready()
    mn = bed.start("mn", MN_CONFIG)
    mn.wait_ready()
    wait_for(lambda: ha.status()["agent"]["bindings"].get(HOME_ADDRESS), 10.0, "the binding")
    wait_for(lambda: mn.status()["agent"]["registration"], 10.0, "the MN's registration")
    return ha, fa, mn


def _without_remaining(value: Any) -> Any:
    """``value`` without the fields that change by themselves (time, sequence numbers)."""
    if isinstance(value, dict):
        return {
            k: _without_remaining(v)
            for k, v in value.items()
            if not k.endswith(("remaining", "age")) and k not in ("advertisement_sequence",)
        }
    if isinstance(value, list):
        return [_without_remaining(v) for v in value]
    return value


def _fa_state(fa: Daemon) -> dict[str, Any]:
    status = fa.status()
    agent, plane = status["agent"], status["dataplane"]
    return _without_remaining(
        {
            "visitors": agent["visitors"],
            "pending": agent["pending"],
            "bets": agent.get("post_registration", {}).get("bets", {}),
            "tunnels": {k: plane[k] for k in ("visitors", "uplinks", "forward_tunnels")},
            "kernel": plane["kernel_state"],
        }
    )


def _mn_state(mn: Daemon) -> dict[str, Any]:
    agent = mn.status()["agent"]
    keys = ("agent", "registration", "pending", "default_router", "link_up", "at_home")
    state = {k: agent[k] for k in keys}
    state["agents"] = sorted(agent["agents"])  # the agents it knows (no new one from noise)
    return _without_remaining(state)


def _handled(status: dict[str, Any]) -> int:
    """Inputs the daemon's parsers took: delivered to the agent, or dropped and counted."""
    daemon = status["daemon"]
    return sum(daemon["received"].values()) + sum(daemon["drops"].values())


def _count(status: dict[str, Any], what: str) -> int:
    if what == "tunnel":
        return int(status["dataplane"]["counters"].get("decapsulated", 0))
    if what == "any":
        return _handled(status)
    return int(status["daemon"]["received"].get(what, 0))


def _fuzz(bed: Testbed, role: str, kind: str, destination: str, seed: int) -> None:
    fuzz = bed.python(role, FUZZ, kind, destination, str(seed), str(DATAGRAMS))
    out, err = fuzz.communicate(timeout=120)
    assert out.strip() == "sent", err


def _storm(
    bed: Testbed, target: Daemon, sender: str, destination: str, link: str, mac: str
) -> None:
    """Every socket type of ``target``, DATAGRAMS each, from namespace ``sender``; each
    burst must have reached the daemon's parsers (not only the kernel)."""
    phases = [
        ("udp", "protocol-17", 0.9),
        ("raw:1", "protocol-1", 0.9),  # the control plane's raw sockets
        ("raw:50", "protocol-50", 0.9),
        ("raw:4", "tunnel", 0.9),  # the data plane's raw tunnel sockets
        ("raw:55", "tunnel", 0.9),
        ("raw:47", "tunnel", 0.9),
        # frames on the link: some are built not to pass the BPF filter (a bad header length)
        (f"link:{link}:{mac}", "any", 0.6),
    ]
    for seed, (kind, what, share) in enumerate(phases, start=100):
        before = target.status()
        _fuzz(bed, sender, kind, destination, seed)
        start, goal = _count(before, what), share * DATAGRAMS
        wait_for(
            lambda what=what, start=start, goal=goal: _count(target.status(), what) - start >= goal,
            10.0,
            f"{kind}: {share:.0%} of {DATAGRAMS} datagrams handled",
        )
    after = target.status()
    assert after["daemon"]["drops"].get("internal-error", 0) == 0, target.log_text()
    assert after["daemon"]["drops"].get("dataplane-error", 0) == 0, target.log_text()
    assert after["daemon"]["drops"]["malformed"] > 0 and after["daemon"]["drops"]["bad-checksum"]
    assert after["dataplane"]["drops"].get("bad-tunnel", 0) > 0
    assert sum(after["agent_drops"].values()) >= DATAGRAMS  # refused by the agent, counted
    assert target.process.poll() is None


def _bad_triggers(target: Daemon, role: str) -> None:
    for i in range(200):
        message = BAD_TRIGGERS[i % len(BAD_TRIGGERS)] if i % 8 else REFUSED[role]
        answer = request(target.socket, message)
        assert answer["ok"] is False, answer
    drops = target.status()["daemon"]["drops"]
    assert drops["bad-control-request"] >= 150 and drops["bad-trigger"] >= 25


def _still_serving(bed: Testbed, port: int) -> None:
    rx = bed.python("mn", RECEIVER, str(port), "5")
    assert rx.stdout is not None and rx.stdout.readline().strip() == "ready"
    bed.python("ha", SENDER, HOME_ADDRESS, str(port), f"hello-{port}").wait(5)
    out, _ = rx.communicate(timeout=10)
    assert out.strip() == f"hello-{port} 198.18.1.1"


def test_fa_daemon_survives_random_input_on_every_socket(bed: Testbed) -> None:
    ha, fa, _mn = _registered(bed)
    fa_before, binding = _fa_state(fa), ha.status()["agent"]["bindings"][HOME_ADDRESS]
    assert HOME_ADDRESS in fa_before["visitors"] and fa_before["bets"] == {}
    assert "post_registration" in fa.status()["agent"]  # the BET machine is on
    fa_mac = bed.exec("fa", "cat", "/sys/class/net/fa-ap/address").stdout.strip()
    # from the MN's side: the access link is where untrusted input comes from
    _storm(bed, fa, "mn", FA_ADDRESS, "mn-radio", fa_mac)
    _bad_triggers(fa, "fa")
    assert _fa_state(fa) == fa_before
    after = ha.status()["agent"]["bindings"][HOME_ADDRESS]
    assert [b["care_of_address"] for b in after] == [b["care_of_address"] for b in binding]
    _still_serving(bed, 9989)
    # its log through all of it: one JSON object per line (--log-level debug: every drop)
    lines = (fa.dir / "log").read_text().splitlines()
    assert sum(json.loads(line)["msg"] == "dropped" for line in lines) >= DATAGRAMS


def test_mn_daemon_survives_random_input_on_every_socket(bed: Testbed) -> None:
    _ha, _fa, mn = _registered(bed)
    before = _mn_state(mn)
    assert before["registration"] is not None and before["default_router"] == FA_ADDRESS
    mn_mac = bed.exec("mn", "cat", "/sys/class/net/mn-radio/address").stdout.strip()
    # from the FA's side of the radio link (the FA routes to the home address there)
    _storm(bed, mn, "fa", HOME_ADDRESS, "fa-ap", mn_mac)
    _bad_triggers(mn, "mn")
    assert _mn_state(mn) == before
    _still_serving(bed, 9988)
