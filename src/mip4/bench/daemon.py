"""``mip4 bench daemon``: how fast the real daemons are, against a bare asyncio UDP echo server.

Needs root. It builds three namespaces (``mip4b-<pid>-ha``, ``-fa``, ``-mn``) joined by veths
and addressed from 198.18.0.0/15 only (two daemons cannot share a namespace: each binds UDP
434 and sees every local tunnel packet), then measures in one run:

1. ``udp_echo_per_second``: a bare asyncio UDP echo server in the HA namespace, driven from
   the FA namespace with Registration-Request-sized datagrams (the baseline), by the same
   client as the daemons; sampled before the HA phase, between the phases and after the FA
   phase, and the median taken;
2. ``ha_registrations_per_second``: the HA daemon, driven from the FA namespace with
   authenticated Registration Requests for ``--mns`` home addresses (accepted replies
   counted);
3. ``fa_relays_per_second``: the same through an FA daemon: requests from the MN namespace
   to the FA on its access link, relayed to the HA and the replies relayed back;
4. ``dataplane_packets_per_second``: UDP packets sent in the HA namespace to a registered
   home address, intercepted by the HA's TUN device, tunnelled (IP in IP over raw sockets)
   to the FA, decapsulated and delivered to the MN namespace, counted there.

Load is windowed (``--window`` requests outstanding); the ratios are rate / echo rate (goal
at least 0.3). Everything it made is removed at the end, on failure and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

HA = "198.18.1.1"
FA = "198.18.1.2"
HOME_BASE = int(IPv4Address("198.18.4.0"))
KEY = "00112233445566778899aabbccddeeff"
ECHO_PORT = 7434
CLIENT_PORT = 40434
DATA_PORT = 40009
IP_PKTINFO = 8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", metavar="FILE", help="write the figures as JSON ('-': stdout)")
    parser.add_argument(
        "--seconds", type=float, default=2.0, metavar="S", help="duration of each phase"
    )
    parser.add_argument("--window", type=int, default=32, metavar="N", help="requests in flight")
    parser.add_argument("--mns", type=int, default=256, metavar="N", help="home addresses used")
    parser.add_argument(
        "--quick", action="store_true", help="short phases (checks that the bench runs)"
    )


def _home(i: int) -> str:
    return str(IPv4Address(HOME_BASE + i))


# ---------------------------------------------------------------------------- load clients


def _requests(count: int, mns: int, care_of: str, budget: float) -> list[tuple[str, bytes]]:
    """Authenticated Registration Requests, fresh timestamps increasing per MN."""
    from mip4.core.security import ntp_timestamp
    from mip4.wire.auth import seal
    from mip4.wire.extensions import MobileHomeAuthentication
    from mip4.wire.registration import RegistrationRequest

    key = bytes.fromhex(KEY)
    # Stamped for the end of the generation budget, when the load starts: the HA accepts
    # timestamps within 7 s either way (RFC 5944 §5.7.1), so a phase may last 7 s however
    # long the generation took (stamped at its start, the generation time counted too).
    base = ntp_timestamp(time.time() + budget, _NoRandom())
    out: list[tuple[str, bytes]] = []
    deadline = time.perf_counter() + budget
    for i in range(count):
        home = _home(i % mns)
        rrq = RegistrationRequest(
            lifetime=600,
            home_address=IPv4Address(home),
            home_agent=IPv4Address(HA),
            care_of_address=IPv4Address(care_of),
            identification=base + i,
        )
        template = MobileHomeAuthentication(spi=1000 + i % mns, authenticator=b"")
        out.append((home, seal(rrq, template, key).encode()))
        if i % 256 == 0 and time.perf_counter() > deadline:
            break
    return out


class _NoRandom:
    def getrandbits(self, k: int, /) -> int:
        return 0


def client(mode: str, destination: str, port: int, seconds: float, window: int, mns: int) -> None:
    """Windowed load; prints ``{"replies": n, "accepted": n, "seconds": s}``."""
    care_of = FA
    messages = _requests(200_000, mns, care_of, budget=min(3.0, 1.0 + seconds))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
    sock.bind(("0.0.0.0", CLIENT_PORT))
    sock.settimeout(0.2)
    spoof = mode == "relay"  # from each home address, as the MN would send it
    target = (destination, port)
    sent = replies = accepted = 0
    # The source-address ancillary data of each home address, built before the clock
    # starts: the client's own work per request must not differ between phases more than
    # the sockets require (it shares the two cores with the daemons).
    ancillary: dict[str, list[tuple[int, int, bytes]]] = {}
    for home, _ in messages if spoof else ():
        if home not in ancillary:
            info = struct.pack("=I4s4s", 0, IPv4Address(home).packed, b"\0" * 4)
            ancillary[home] = [(socket.IPPROTO_IP, IP_PKTINFO, info)]

    def send() -> None:
        nonlocal sent
        if sent >= len(messages):
            return
        home, data = messages[sent]
        sent += 1
        if spoof:
            sock.sendmsg([data], ancillary[home], 0, target)
        else:
            sock.sendto(data, target)

    start = time.perf_counter()
    end = start + seconds
    for _ in range(window):
        send()
    while True:
        now = time.perf_counter()
        if now >= end or sent >= len(messages):
            break
        try:
            data = sock.recv(4096)
        except TimeoutError:
            for _ in range(window):
                send()
            continue
        replies += 1
        if mode == "echo" or (len(data) > 1 and data[0] == 3 and data[1] == 0):
            accepted += 1
        send()
    elapsed = time.perf_counter() - start
    print(json.dumps({"replies": replies, "accepted": accepted, "seconds": elapsed}))


def echo_server(port: int) -> None:
    """A bare asyncio UDP echo server (the baseline)."""
    import asyncio

    class Echo(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport: Any = transport

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            self.transport.sendto(data, addr)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(Echo, local_addr=("0.0.0.0", port))
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


def blaster(destination: str, port: int, seconds: float) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    payload = b"x" * 64
    sent = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for _ in range(64):
            try:
                sock.sendto(payload, (destination, port))
                sent += 1
            except BlockingIOError:
                time.sleep(0.0001)
    print(json.dumps({"sent": sent}))


def sink(port: int, seconds: float) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
    sock.bind(("0.0.0.0", port))
    sock.settimeout(0.5)
    print("ready", flush=True)
    count = 0
    first = last = 0.0
    end = time.perf_counter() + seconds + 5.0
    while time.perf_counter() < end:
        try:
            sock.recv(2048)
        except TimeoutError:
            if count:
                break
            continue
        last = time.perf_counter()
        if not count:
            first = last
        count += 1
    print(json.dumps({"received": count, "seconds": max(last - first, 1e-9)}))


# ---------------------------------------------------------------------------- orchestration


def _sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


class _Bench:
    def __init__(self, workdir: Path, mns: int) -> None:
        tag = os.getpid() % 100000
        self.ns = {role: f"mip4b-{tag}-{role}" for role in ("ha", "fa", "mn")}
        self.dir = workdir
        self.mns = mns
        self.processes: list[subprocess.Popen[str]] = []
        self.daemons: list[subprocess.Popen[str]] = []

    def build(self) -> None:
        ha, fa, mn = self.ns["ha"], self.ns["fa"], self.ns["mn"]
        for ns in self.ns.values():
            _sh("ip", "netns", "add", ns)
            _sh("ip", "-n", ns, "link", "set", "lo", "up")
            for key in (
                "net.ipv4.ip_forward=1",
                "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.default.rp_filter=0",
            ):
                _sh("ip", "netns", "exec", ns, "sysctl", "-qw", key)
        _sh(
            "ip",
            "-n",
            ha,
            "link",
            "add",
            "ha-core",
            "type",
            "veth",
            "peer",
            "name",
            "fa-core",
            "netns",
            fa,
        )
        _sh(
            "ip",
            "-n",
            fa,
            "link",
            "add",
            "fa-ap",
            "type",
            "veth",
            "peer",
            "name",
            "mn-radio",
            "netns",
            mn,
        )
        _sh("ip", "-n", ha, "addr", "add", f"{HA}/24", "dev", "ha-core")
        _sh("ip", "-n", fa, "addr", "add", f"{FA}/24", "dev", "fa-core")
        _sh("ip", "-n", fa, "addr", "add", f"{FA}/32", "dev", "fa-ap")
        for ns, link in ((ha, "ha-core"), (fa, "fa-core"), (fa, "fa-ap"), (mn, "mn-radio")):
            _sh("ip", "-n", ns, "link", "set", link, "up")
        batch = "".join(f"addr add {_home(i)}/32 dev mn-radio\n" for i in range(self.mns))
        subprocess.run(["ip", "-n", mn, "-batch", "-"], input=batch, text=True, check=True)
        _sh("ip", "-n", mn, "route", "add", f"{FA}/32", "dev", "mn-radio")

    def spawn(self, role: str, *argv: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            ["ip", "netns", "exec", self.ns[role], sys.executable, *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.processes.append(process)
        return process

    def helper(self, role: str, *argv: str) -> subprocess.Popen[str]:
        return self.spawn(role, "-m", "mip4.bench.daemon", *argv)

    def run_helper(self, role: str, *argv: str, timeout: float = 60.0) -> dict[str, Any]:
        process = self.helper(role, *argv)
        out, err = process.communicate(timeout=timeout)
        if process.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {err.strip()[-500:]}")
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return result

    def daemon(self, role: str, config: str) -> Path:
        path = self.dir / f"{role}.toml"
        sock = self.dir / role / "control.sock"
        path.write_text(config + f'\n[daemon]\ncontrol_socket = "{sock}"\ntun = "mip4b-{role}"\n')
        process = self.spawn(
            role, "-m", "mip4.cli", "agent", "--config", str(path), "--log-level", "warning"
        )
        self.daemons.append(process)
        deadline = time.monotonic() + 10
        from mip4.daemon.control import request

        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{role} daemon exited: {process.stderr.read()[-500:]}")  # type: ignore[union-attr]
            try:
                if request(sock, {"command": "status"}).get("ok"):
                    return sock
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{role} daemon did not start")

    def close(self) -> None:
        for process in self.daemons:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()
        for ns in self.ns.values():
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def _ha_config(mns: int) -> str:
    entries = "".join(
        f'[[security.mn_ha]]\npeer = "{_home(i)}"\nspi = {1000 + i}\nkey = "hex:{KEY}"\n'
        for i in range(mns)
    )
    return (
        f'role = "ha"\nname = "bench-ha"\naddress = "{HA}"\nhome_prefix_length = 16\n'
        f'[interfaces]\nhome = "ha-core"\n{entries}'
    )


def _fa_config() -> str:
    return (
        f'role = "fa"\nname = "bench-fa"\naddress = "{FA}"\n'
        '[interfaces]\naccess = "fa-ap"\nwired = "fa-core"\n'
        "[timers]\nadvertisement_interval = 30.0\n"
    )


def measure(seconds: float, window: int, mns: int) -> dict[str, float]:
    if os.geteuid() != 0:
        raise PermissionError("mip4 bench daemon needs root (namespaces, TUN, raw sockets)")
    s = str(seconds)
    with tempfile.TemporaryDirectory(prefix="mip4b-") as tmp:
        bench = _Bench(Path(tmp), mns)
        try:
            bench.build()
            echo = bench.helper("ha", "echo", str(ECHO_PORT))
            assert echo.stdout is not None
            echo.stdout.readline()

            def echo_phase() -> float:
                e = bench.run_helper(
                    "fa", "client", "echo", HA, str(ECHO_PORT), s, str(window), str(mns)
                )
                return float(e["accepted"] / e["seconds"])

            # The baseline is sampled around the daemon phases (the idle echo server stays
            # up): before the HA phase, between the phases and after the FA phase; their
            # median is the echo rate (a shared machine's load moves a single sample).
            echoes = [echo_phase()]
            bench.daemon("ha", _ha_config(mns))
            h = bench.run_helper("fa", "client", "direct", HA, "434", s, str(window), str(mns))
            echoes.append(echo_phase())
            bench.daemon("fa", _fa_config())
            f = bench.run_helper("mn", "client", "relay", FA, "434", s, str(window), str(mns))
            echoes.append(echo_phase())
            echo.kill()
            receiver = bench.helper("mn", "sink", str(DATA_PORT), s)
            assert receiver.stdout is not None
            receiver.stdout.readline()
            bench.run_helper("ha", "blast", _home(0), str(DATA_PORT), s)
            out, _ = receiver.communicate(timeout=30)
            d = json.loads(out.strip().splitlines()[-1])
        finally:
            bench.close()
    echo_rate = sorted(echoes)[1]
    ha_rate = h["accepted"] / h["seconds"]
    fa_rate = f["accepted"] / f["seconds"]
    return {
        "udp_echo_per_second": round(echo_rate, 1),
        "ha_registrations_per_second": round(ha_rate, 1),
        "ha_ratio": round(ha_rate / echo_rate, 3) if echo_rate else 0.0,
        "fa_relays_per_second": round(fa_rate, 1),
        "fa_ratio": round(fa_rate / echo_rate, 3) if echo_rate else 0.0,
        "dataplane_packets_per_second": round(d["received"] / d["seconds"], 1),
    }


def run(args: argparse.Namespace) -> int:
    seconds = 0.3 if args.quick else args.seconds
    try:
        result = measure(seconds, args.window, args.mns)
    except (PermissionError, RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(f"mip4 bench daemon: error: {exc}", file=sys.stderr)
        return 2
    if args.json == "-":
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    else:
        width = max(len(k) for k in result)
        for key, value in result.items():
            print(f"{key:<{width}}  {value}")
    return 0


def _main(argv: list[str]) -> None:
    kind = argv[0]
    if kind == "client":
        client(argv[1], argv[2], int(argv[3]), float(argv[4]), int(argv[5]), int(argv[6]))
    elif kind == "echo":
        echo_server(int(argv[1]))
    elif kind == "blast":
        blaster(argv[1], int(argv[2]), float(argv[3]))
    elif kind == "sink":
        sink(int(argv[1]), float(argv[2]))
    else:
        raise SystemExit(f"unknown helper {kind!r}")


if __name__ == "__main__":
    _main(sys.argv[1:])
