"""Test helpers: network namespaces (``mip4t-`` prefix) and daemons running inside them.

Everything a :class:`Testbed` makes is removed by :meth:`Testbed.close` (daemons killed,
namespaces deleted, which also deletes their veths and TUN devices); fixtures call it in a
``finally``. Addresses come only from 198.18.0.0/15.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mip4.daemon.control import request

HOME_ADDRESS = "198.18.2.10"
HA_ADDRESS = "198.18.1.1"
FA_ADDRESS = "198.18.1.2"
HOME_HOST = "198.18.2.20"  # a host on the home network (RFC 5944 §4.6: the HA proxies ARP)
MN_HA_KEY = "hex:00112233445566778899aabbccddeeff"


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=check, capture_output=True, text=True)


def netns_list() -> list[str]:
    return [line.split()[0] for line in sh("ip", "netns", "list").stdout.splitlines() if line]


class Daemon:
    def __init__(
        self, bed: Testbed, ns: str, name: str, config: str, extra: tuple[str, ...] = ()
    ) -> None:
        self.ns = ns
        self.name = name
        self.dir = bed.dir / name
        self.dir.mkdir(exist_ok=True)
        self.socket = self.dir / "run" / "control.sock"
        config = config + f'\n[daemon]\ncontrol_socket = "{self.socket}"\ntun = "mip4t-{name}"\n'
        self.config = self.dir / f"{name}.toml"
        self.config.write_text(config)
        self.log = (self.dir / "log").open("w")
        self.process = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                ns,
                sys.executable,
                "-m",
                "mip4.cli",
                "agent",
                "--config",
                str(self.config),
                "--log-level",
                "debug",
                *extra,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def status(self) -> dict[str, Any]:
        answer = request(self.socket, {"command": "status"})
        assert answer["ok"], answer
        status: dict[str, Any] = answer["status"]
        return status

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited: {self.log_text()}")
            if self.socket.exists():
                try:
                    self.status()
                    return
                except (OSError, ValueError):
                    pass
            time.sleep(0.05)
        raise AssertionError(f"{self.name} not ready: {self.log_text()}")

    def log_text(self) -> str:
        self.log.flush()
        return (self.dir / "log").read_text()[-4000:]

    def stop(self, timeout: float = 5.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.process.returncode


class Testbed:
    """HA, FA and MN namespaces: HA --(198.18.1.0/24)-- FA --(access link)-- MN.

    The MN's home address 198.18.2.10 belongs to the HA's home network 198.18.2.0/24, where
    a host (198.18.2.20, namespace ``home``) lives.
    """

    __test__ = False

    def __init__(self, directory: Path) -> None:
        tag = f"{os.getpid() % 100000}"
        self.dir = directory
        self.ns = {role: f"mip4t-{tag}-{role}" for role in ("ha", "fa", "mn", "home")}
        self.daemons: list[Daemon] = []
        self.extra: list[subprocess.Popen[bytes]] = []

    def build(self) -> None:
        ha, fa, mn, home = self.ns["ha"], self.ns["fa"], self.ns["mn"], self.ns["home"]
        for ns in self.ns.values():
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            for key in (
                "net.ipv4.ip_forward=1",
                "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.default.rp_filter=0",
            ):
                sh("ip", "netns", "exec", ns, "sysctl", "-qw", key)
        sh(
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
        sh(
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
        sh("ip", "-n", ha, "link", "add", "ha-home", "type", "veth", "peer", "name", "home0",
           "netns", home)  # fmt: skip
        sh("ip", "-n", home, "addr", "add", f"{HOME_HOST}/24", "dev", "home0")
        sh("ip", "-n", ha, "addr", "add", f"{HA_ADDRESS}/24", "dev", "ha-core")
        sh("ip", "-n", ha, "addr", "add", "198.18.2.1/24", "dev", "ha-home")
        sh("ip", "-n", fa, "addr", "add", f"{FA_ADDRESS}/24", "dev", "fa-core")
        sh("ip", "-n", fa, "addr", "add", f"{FA_ADDRESS}/32", "dev", "fa-ap")
        sh("ip", "-n", mn, "addr", "add", f"{HOME_ADDRESS}/32", "dev", "mn-radio")
        for ns, links in (
            (ha, ("ha-core", "ha-home")),
            (home, ("home0",)),
            (fa, ("fa-core", "fa-ap")),
            (mn, ("mn-radio",)),
        ):
            for link in links:
                sh("ip", "-n", ns, "link", "set", link, "up")

    def start(self, role: str, config: str, *extra: str) -> Daemon:
        daemon = Daemon(self, self.ns[role], role, config, extra)
        self.daemons.append(daemon)
        return daemon

    def exec(self, role: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", self.ns[role], *args, check=check)

    def python(self, role: str, code: str, *args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            ["ip", "netns", "exec", self.ns[role], sys.executable, "-c", code, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.extra.append(process)  # type: ignore[arg-type]
        return process

    def close(self) -> None:
        for daemon in self.daemons:
            try:
                daemon.stop()
            except Exception:
                daemon.process.kill()
        for process in self.extra:
            if process.poll() is None:
                process.kill()
                process.wait()
        for ns in self.ns.values():
            sh("ip", "netns", "del", ns, check=False)


HA_CONFIG = f"""
role = "ha"
name = "ha"
address = "{HA_ADDRESS}"
[interfaces]
home = "ha-home"
[[security.mn_ha]]
peer = "{HOME_ADDRESS}"
spi = 1000
key = "{MN_HA_KEY}"
"""

FA_CONFIG = f"""
role = "fa"
name = "fa"
address = "{FA_ADDRESS}"
[interfaces]
access = "fa-ap"
wired = "fa-core"
[timers]
advertisement_interval = 0.5
[options]
advertisement_destination = "255.255.255.255"
"""

MN_CONFIG = f"""
role = "mn"
name = "mn"
home_address = "{HOME_ADDRESS}"
home_agent = "{HA_ADDRESS}"
[interfaces]
radio = "mn-radio"
[[security.mn_ha]]
peer = "{HA_ADDRESS}"
spi = 1000
key = "{MN_HA_KEY}"
"""

RECEIVER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
print("ready", flush=True)
s.settimeout(float(sys.argv[2]))
try:
    data, address = s.recvfrom(2048)
    print(data.decode(), address[0], flush=True)
except OSError as exc:
    print("timeout", exc, flush=True)
"""

SENDER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(sys.argv[3].encode(), (sys.argv[1], int(sys.argv[2])))
"""


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}: {json.dumps(last, default=str)[:500]}")
