"""Real daemons in network namespaces (root only; skipped without it, failed in CI).

HA, FA and MN daemons register the MN through the FA; user packets cross the user-space
tunnel in both directions; SIGTERM leaves nothing behind; random datagrams and bad
triggers change nothing.
"""

from __future__ import annotations

import random
import socket
import sys
import time

from mip4.daemon.control import request
from tests.daemon.netns import (
    FA_ADDRESS,
    FA_CONFIG,
    HA_CONFIG,
    HOME_ADDRESS,
    HOME_HOST,
    MN_CONFIG,
    RECEIVER,
    SENDER,
    Daemon,
    Testbed,
    wait_for,
)

DATAGRAMS = 10_000  # issue 7 §3: random datagrams on UDP 434, and on the raw sockets


def _registered(
    bed: Testbed, *ha_args: str, mn_args: tuple[str, ...] = ()
) -> tuple[Daemon, Daemon, Daemon]:
    ha = bed.start("ha", HA_CONFIG, *ha_args)
    fa = bed.start("fa", FA_CONFIG)
    ha.wait_ready()
    fa.wait_ready()
    mn = bed.start("mn", MN_CONFIG, *mn_args)
    mn.wait_ready()

    def bound() -> object:
        bindings = ha.status()["agent"]["bindings"]
        return bindings.get(HOME_ADDRESS)

    wait_for(bound, 10.0, "the HA's binding")
    return ha, fa, mn


def _udp(bed: Testbed, receiver: str, sender: str, destination: str, port: int) -> str:
    rx = bed.python(receiver, RECEIVER, str(port), "5")
    assert rx.stdout is not None
    assert rx.stdout.readline().strip() == "ready"
    bed.python(sender, SENDER, destination, str(port), f"hello-{port}").wait(5)
    out, _ = rx.communicate(timeout=10)
    return out.strip()


def test_registration_through_the_fa_and_packets_through_the_tunnel(bed: Testbed) -> None:
    ha, fa, mn = _registered(bed)
    binding = ha.status()["agent"]["bindings"][HOME_ADDRESS]
    assert [b["care_of_address"] for b in binding] == [FA_ADDRESS]
    assert 0 < binding[0]["lifetime_remaining"] <= binding[0]["lifetime"]
    fa_status = fa.status()
    assert HOME_ADDRESS in fa_status["agent"]["visitors"]
    assert fa_status["dataplane"]["visitors"][HOME_ADDRESS]["interface"] == "fa-ap"
    mn_status = mn.status()
    assert mn_status["agent"]["default_router"] == FA_ADDRESS

    # HA side -> home address: intercepted into the HA's TUN, tunnelled to the FA (IP in IP
    # over raw sockets), decapsulated and delivered on the access link.
    assert _udp(bed, "mn", "ha", HOME_ADDRESS, 9999) == "hello-9999 198.18.1.1"
    assert ha.status()["dataplane"]["counters"]["encapsulated"] >= 1
    assert fa.status()["dataplane"]["counters"]["delivered"] >= 1
    # a host on the home network: the HA answers ARP for the away MN (RFC 5944 §4.6)
    assert _udp(bed, "mn", "home", HOME_ADDRESS, 9995) == f"hello-9995 {HOME_HOST}"
    neigh = bed.exec("home", "ip", "neigh", "show", HOME_ADDRESS).stdout
    assert bed.exec("ha", "cat", "/sys/class/net/ha-home/address").stdout.strip() in neigh
    assert f"{HOME_ADDRESS} dev ha-home" in bed.exec("ha", "ip", "neigh", "show", "proxy").stdout
    # MN -> HA side: reverse-tunnelled by the FA (RFC 3024), decapsulated by the HA.
    assert _udp(bed, "ha", "mn", "198.18.2.1", 9998) == f"hello-9998 {HOME_ADDRESS}"
    assert fa.status()["dataplane"]["counters"]["encapsulated"] >= 1


def test_sigterm_removes_tun_devices_routes_and_neighbours(bed: Testbed) -> None:
    ha, fa, mn = _registered(bed)
    assert "mip4t-ha" in bed.exec("ha", "ip", "-o", "link", "show", "type", "tun").stdout
    assert f"{HOME_ADDRESS} dev mip4t-ha" in bed.exec("ha", "ip", "route").stdout
    assert f"{HOME_ADDRESS} dev fa-ap" in bed.exec("fa", "ip", "route").stdout
    assert "PERMANENT" in bed.exec("fa", "ip", "neigh").stdout
    assert "iif fa-ap lookup 4340" in bed.exec("fa", "ip", "rule").stdout
    assert "default via" in bed.exec("mn", "ip", "route").stdout
    assert HOME_ADDRESS in bed.exec("ha", "ip", "neigh", "show", "proxy").stdout
    for daemon in (ha, fa, mn):
        assert daemon.stop() == 0, daemon.log_text()
        assert not daemon.socket.exists()
    for role in ("ha", "fa", "mn"):
        assert bed.exec(role, "ip", "-o", "link", "show", "type", "tun").stdout == ""
        routes = bed.exec(role, "ip", "-4", "route", "show", "table", "all").stdout
        assert "proto static" not in routes  # every route the daemons added is gone
        assert "default" not in routes
        assert "PERMANENT" not in bed.exec(role, "ip", "neigh").stdout
        assert bed.exec(role, "ip", "neigh", "show", "proxy").stdout == ""
        assert "4340" not in bed.exec(role, "ip", "rule").stdout


FUZZ = """
import random, socket, sys, time
rng = random.Random(int(sys.argv[2]))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[3])):
    if i % 50 == 49:
        time.sleep(0.002)  # paced: the point is the daemon's parsing, not socket overflow
    n = rng.randrange(0, 200)
    data = bytes(rng.getrandbits(8) for _ in range(n))
    if data and rng.random() < 0.5:
        data = bytes([rng.choice([1, 3, 4, 5, 16, 17])]) + data[1:]
    s.sendto(data, (sys.argv[1], 434))
print("sent", flush=True)
"""


def test_daemon_survives_random_datagrams_and_bad_triggers(bed: Testbed) -> None:
    ha, _fa, _mn = _registered(bed)
    before = ha.status()["agent"]["bindings"]
    fuzz = bed.python("fa", FUZZ, "198.18.1.1", "7", str(DATAGRAMS))
    out, err = fuzz.communicate(timeout=60)
    assert out.strip() == "sent", err
    bad = [
        {"command": "trigger", "kind": "L2-XX", "params": {}},
        {"command": "trigger", "kind": "L2-MT", "params": {}},
        {"command": "trigger", "kind": "L2-ST", "params": {"mn": "zz", "fa": "1.2.3"}},
        {"command": "trigger", "kind": "L2-LU", "params": {"interface": 3}},
        {"command": "trigger", "kind": "L2-LD", "params": {"bogus": "1"}},
        {"command": "trigger", "kind": "L2-MT", "params": {"fa": FA_ADDRESS}},  # not for an HA
        {"command": "nope"},
        ["not", "an", "object"],
    ]
    rng = random.Random(3)
    for i in range(200):
        message = bad[i % len(bad)]
        answer = request(ha.socket, message)  # type: ignore[arg-type]
        assert answer["ok"] is False, answer
    for _ in range(50):  # garbage lines on the control socket
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(ha.socket))
            sock.sendall(bytes(rng.getrandbits(8) for _ in range(64)).replace(b"\n", b"") + b"\n")
            assert b'"ok": false' in sock.recv(4096)
    time.sleep(0.5)
    status = ha.status()
    assert ha.process.poll() is None
    after = status["agent"]["bindings"]
    assert after.keys() == before.keys()
    assert [b["care_of_address"] for b in after[HOME_ADDRESS]] == [
        b["care_of_address"] for b in before[HOME_ADDRESS]
    ]
    assert status["daemon"]["received"]["protocol-17"] >= DATAGRAMS
    assert sum(status["agent_drops"].values()) >= 0.9 * DATAGRAMS
    assert status["daemon"]["drops"]["bad-control-request"] >= 200
    assert status["daemon"]["drops"].get("internal-error", 0) == 0
    # still serving: the tunnel works after the storm
    assert _udp(bed, "mn", "ha", HOME_ADDRESS, 9997) == "hello-9997 198.18.1.1"


METRICS = """
import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())
"""


def test_metrics_trigger_command_and_kernel_link_events(bed: Testbed) -> None:
    ha, fa, mn = _registered(bed, "--metrics", "127.0.0.1:9434", mn_args=("--metrics", ":9435"))
    scrape = bed.python("ha", METRICS, "http://127.0.0.1:9434/metrics")
    text, err = scrape.communicate(timeout=10)
    assert scrape.returncode == 0, err
    # the MN's registration, counted by the runtime as a handoff of its [daemon] method
    mn_scrape = bed.python("mn", METRICS, "http://127.0.0.1:9435/metrics")
    mn_text, err = mn_scrape.communicate(timeout=10)
    assert mn_scrape.returncode == 0, err
    assert 'mip4_handoffs_total{method="standard",outcome="completed"} 1.0' in mn_text
    assert (
        'mip4_registration_messages_total{direction="received",message="registration-request"}'
        in text
    )
    assert 'mip4_registration_replies_total{code="0",direction="sent"} 1.0' in text
    assert 'mip4_tunnels{kind="binding"} 1.0' in text
    assert "mip4_drops_total" in text

    # mip4 trigger through the CLI: L2-LD at the MN withdraws its default router
    result = bed.exec(
        "mn",
        sys.executable,
        "-m",
        "mip4.cli",
        "trigger",
        "--socket",
        str(mn.socket),
        "L2-LD",
        "interface=mn-radio",
    )
    assert result.stdout.startswith("L2-LD: ok"), result.stderr
    assert mn.status()["agent"]["link_up"] is False
    assert "default" not in bed.exec("mn", "ip", "route").stdout
    bad = bed.exec(
        "mn",
        sys.executable,
        "-m",
        "mip4.cli",
        "trigger",
        "--socket",
        str(mn.socket),
        "L2-LU",
        "interface=wlan9",
        check=False,
    )
    assert bad.returncode == 2 and "unknown interface wlan9" in bad.stderr
    # ... and the kernel's link events do the same: the access link loses its carrier
    bed.exec(
        "mn",
        sys.executable,
        "-m",
        "mip4.cli",
        "trigger",
        "--socket",
        str(mn.socket),
        "L2-LU",
        "interface=mn-radio",
    )
    assert mn.status()["agent"]["link_up"] is True
    bed.exec("fa", "ip", "link", "set", "fa-ap", "down")
    wait_for(lambda: mn.status()["agent"]["link_up"] is False, 5.0, "L2-LD from the kernel")
    bed.exec("fa", "ip", "link", "set", "fa-ap", "up")
    wait_for(lambda: mn.status()["agent"]["link_up"] is True, 5.0, "L2-LU from the kernel")
    status = bed.exec(
        "ha", sys.executable, "-m", "mip4.cli", "status", "--socket", str(ha.socket)
    ).stdout
    assert "Mobility bindings" in status and HOME_ADDRESS in status and FA_ADDRESS in status
    assert fa.status()["agent_drops"] == {}


RAW_FUZZ = """
import random, socket, sys, time, time
rng = random.Random(int(sys.argv[2]))
socks = {p: socket.socket(socket.AF_INET, socket.SOCK_RAW, p) for p in (1, 4, 47, 50, 55)}
for i in range(int(sys.argv[3])):
    if i % 50 == 49:
        time.sleep(0.002)
    protocol = rng.choice(list(socks))
    n = rng.randrange(8, 120)
    data = bytearray(rng.getrandbits(8) for _ in range(n))
    if protocol in (4, 55) and n >= 20 and rng.random() < 0.5:
        data[0] = 0x45  # looks like an inner IPv4 header
    if protocol == 1 and n >= 1 and rng.random() < 0.5:
        data[0] = rng.choice([3, 9, 10])  # unreachable, advertisement, solicitation
    socks[protocol].sendto(bytes(data), (sys.argv[1], 0))
print("sent", flush=True)
"""


def test_daemon_survives_random_packets_on_its_raw_sockets(bed: Testbed) -> None:
    ha, fa, _mn = _registered(bed)
    before = ha.status()["agent"]["bindings"]
    for target, seed in (("198.18.1.1", "11"), ("198.18.1.2", "12")):
        fuzz = bed.python(
            "fa" if target.endswith(".1") else "ha", RAW_FUZZ, target, seed, str(DATAGRAMS)
        )
        out, err = fuzz.communicate(timeout=60)
        assert out.strip() == "sent", err
    time.sleep(0.5)
    for daemon in (ha, fa):
        assert daemon.process.poll() is None
        status = daemon.status()
        assert status["daemon"]["drops"].get("internal-error", 0) == 0, daemon.log_text()
        assert status["dataplane"]["drops"].get("bad-tunnel", 0) > 0
    after = ha.status()["agent"]["bindings"]
    assert [b["care_of_address"] for b in after[HOME_ADDRESS]] == [
        b["care_of_address"] for b in before[HOME_ADDRESS]
    ]
    assert HOME_ADDRESS in fa.status()["agent"]["visitors"]
    assert _udp(bed, "mn", "ha", HOME_ADDRESS, 9996) == "hello-9996 198.18.1.1"


def test_a_missing_interface_is_named_by_its_key(bed: Testbed) -> None:
    daemon = bed.start("ha", HA_CONFIG.replace('home = "ha-home"', 'home = "nosuch0"'))
    assert daemon.process.wait(10) == 1
    assert "interfaces.home: no interface 'nosuch0' here" in daemon.log_text()
    assert bed.exec("ha", "ip", "-o", "link", "show", "type", "tun").stdout == ""
