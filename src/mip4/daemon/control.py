"""The local control socket: L2 triggers in, status out (design.md, "The real network").

A Unix stream socket, mode 0600: only the daemon's owner can use it. Its folder is created
mode 0700 when missing; an existing folder is used as it is (``/run`` or ``/tmp`` keep their
modes) but refused when someone else could replace the socket in it: owned by a user other
than the daemon's or root, or writable by group or others without the sticky bit (see
:func:`check_socket_directory`). One JSON object per line each way::

    {"command": "trigger", "kind": "L2-LU", "params": {"interface": "mn-radio", "fa": "..."}}
    {"command": "status"}

Answers are ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``. A trigger that does
not parse, or that the agent refuses (a ``bad-trigger`` drop), is answered with an error and
counted; nothing a client sends stops the daemon.

Trigger parameters (RFC 4881 Table 1), as ``key=value`` words on ``mip4 trigger``:

| kind  | parameters                                                          |
|-------|---------------------------------------------------------------------|
| L2-MT | ``fa=ADDR`` or ``ap=ID`` (the nFA), ``interface=NAME``              |
| L2-ST | ``mn=MAC`` [``home=ADDR``], ``fa=ADDR`` or ``ap=ID`` (the nFA)      |
| L2-TT | ``mn=MAC`` [``home=ADDR``], ``fa=ADDR`` or ``ap=ID`` (the oFA)      |
| L2-LU | at the MN ``interface=NAME`` [``fa=``/``ap=``]; at an nFA ``mn=MAC`` |
| L2-LD | ``interface=NAME``; at the oFA ``mn=MAC`` [``home=ADDR``]           |
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import stat
from collections.abc import Mapping
from ipaddress import AddressValueError, IPv4Address
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mip4.core.actions import Dropped, DropReason
from mip4.core.triggers import (
    FaIdentifier,
    L2Trigger,
    LinkDown,
    LinkUp,
    MnIdentifier,
    MobileTrigger,
    SourceTrigger,
    TargetTrigger,
)
from mip4.daemon.config import parse_mac
from mip4.errors import LocalUsageError

if TYPE_CHECKING:
    from mip4.daemon.runtime import Runtime

log = logging.getLogger("mip4.daemon.control")

KINDS = ("L2-MT", "L2-ST", "L2-TT", "L2-LU", "L2-LD")
_ALLOWED = {
    "L2-MT": {"fa", "ap", "interface"},
    "L2-ST": {"mn", "home", "fa", "ap"},
    "L2-TT": {"mn", "home", "fa", "ap"},
    "L2-LU": {"interface", "fa", "ap", "mn", "home"},
    "L2-LD": {"interface", "mn", "home"},
}
MAX_REQUEST = 65536


class TriggerError(LocalUsageError):
    """A trigger request that does not describe a valid L2 trigger."""


def _address(params: Mapping[str, str], key: str) -> IPv4Address | None:
    value = params.get(key)
    if value is None:
        return None
    try:
        return IPv4Address(value)
    except (AddressValueError, ValueError):
        raise TriggerError(f"{key}: not an IPv4 address: {value!r}") from None


def _fa(params: Mapping[str, str], *, required: bool) -> FaIdentifier | None:
    address = _address(params, "fa")
    ap = params.get("ap")
    ap_id: int | None = None
    if ap is not None:
        try:
            ap_id = int(ap, 0)
        except ValueError:
            raise TriggerError(f"ap: not an integer: {ap!r}") from None
        if not 0 <= ap_id <= 0xFFFFFFFF:
            raise TriggerError(f"ap: out of range: {ap_id}")
    if address is None and ap_id is None:
        if required:
            raise TriggerError("needs fa=ADDRESS or ap=ID")
        return None
    return FaIdentifier(address=address, access_point_id=ap_id)


def _mn(params: Mapping[str, str], *, required: bool) -> MnIdentifier | None:
    mac = params.get("mn")
    if mac is None:
        if required:
            raise TriggerError("needs mn=MAC")
        if "home" in params:
            raise TriggerError("home: only with mn=MAC")
        return None
    try:
        link = parse_mac(mac)
    except ValueError as exc:
        raise TriggerError(f"mn: {exc}") from None
    return MnIdentifier(link_address=link, home_address=_address(params, "home"))


def parse_trigger(kind: str, params: Mapping[str, Any]) -> L2Trigger:
    """The core trigger for ``kind`` and its parameters; raises :class:`TriggerError`."""
    if kind not in _ALLOWED:
        raise TriggerError(f"kind: must be one of {', '.join(KINDS)}, got {kind!r}")
    if not isinstance(params, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in params.items()
    ):
        raise TriggerError("params: must map names to strings")
    unknown = sorted(set(params) - _ALLOWED[kind])
    if unknown:
        allowed = ", ".join(sorted(_ALLOWED[kind]))
        raise TriggerError(f"{unknown[0]}: not a parameter of {kind} (allowed: {allowed})")
    interface = params.get("interface", "")
    if kind == "L2-MT":
        fa = _fa(params, required=True)
        assert fa is not None
        return MobileTrigger(new_fa=fa, interface=interface)
    if kind in ("L2-ST", "L2-TT"):
        mn = _mn(params, required=True)
        fa = _fa(params, required=True)
        assert mn is not None and fa is not None
        if kind == "L2-ST":
            return SourceTrigger(mn=mn, new_fa=fa)
        return TargetTrigger(mn=mn, old_fa=fa)
    if kind == "L2-LU":
        mn = _mn(params, required=False)
        fa = _fa(params, required=False)
        if mn is not None and fa is not None:
            raise TriggerError("L2-LU names either the FA (at the MN) or the MN (at an FA)")
        return LinkUp(interface=interface, fa=fa, mn=mn)
    return LinkDown(interface=interface, mn=_mn(params, required=False))


def parse_words(words: list[str]) -> dict[str, str]:
    """``key=value`` words into a mapping; raises :class:`TriggerError`."""
    params: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise TriggerError(f"{word!r}: parameters are written key=value")
        if key in params:
            raise TriggerError(f"{key}: given twice")
        params[key] = value
    return params


class ControlSocketError(LocalUsageError):
    """The configured control socket's folder would let another user replace the socket."""


def check_socket_directory(directory: Path) -> None:
    """Refuse a folder in which another user could remove or replace the socket.

    Safe: owned by the daemon's user or root, and not writable by group or others unless the
    sticky bit is set (then only the owner of an entry may rename or remove it, as in
    ``/tmp``). Raises :class:`ControlSocketError` naming ``daemon.control_socket``.
    """
    try:
        info = directory.stat()
    except OSError as exc:
        raise ControlSocketError(
            f"daemon.control_socket: folder {directory}: {exc.strerror or exc}"
        ) from None
    if not stat.S_ISDIR(info.st_mode):
        raise ControlSocketError(f"daemon.control_socket: {directory} is not a folder")
    if info.st_uid not in (os.geteuid(), 0):
        raise ControlSocketError(
            f"daemon.control_socket: folder {directory} belongs to user {info.st_uid}, "
            f"not to this daemon's user ({os.geteuid()}) or root"
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & (stat.S_IWGRP | stat.S_IWOTH) and not mode & stat.S_ISVTX:
        raise ControlSocketError(
            f"daemon.control_socket: folder {directory} (mode {mode:04o}) is writable by "
            "group or others without the sticky bit: another user could replace the socket"
        )


class ControlServer:
    """Serves the control socket of one :class:`~mip4.daemon.runtime.Runtime`."""

    def __init__(self, runtime: Runtime, path: Path) -> None:
        self.runtime = runtime
        self.path = path
        self.server: asyncio.AbstractServer | None = None
        self.bad_requests = 0
        self._made_directory = False

    def prepare(self) -> None:
        """Create the socket's folder (0700) or check the existing one; call before anything
        else is set up so a refused folder leaves nothing behind."""
        directory = self.path.parent
        if not directory.exists():
            directory.mkdir(mode=0o700, parents=True)
            os.chmod(directory, 0o700)  # the umask may have taken bits: exactly 0700
            self._made_directory = True
        else:
            check_socket_directory(directory)

    async def start(self) -> None:
        if not self._made_directory:
            self.prepare()
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(self.path.lstat().st_mode):
                self.path.unlink()  # left by a daemon that was killed
        old = os.umask(0o177)
        try:
            self.server = await asyncio.start_unix_server(
                self._serve, path=str(self.path), limit=MAX_REQUEST
            )
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 1.0)
            self.server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        if self._made_directory:
            with contextlib.suppress(OSError):
                self.path.parent.rmdir()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    await self._answer(writer, {"ok": False, "error": "request too long"})
                    break
                if not line:
                    break
                await self._answer(writer, self.handle(line))
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, writer: asyncio.StreamWriter, answer: dict[str, object]) -> None:
        writer.write(json.dumps(answer, default=str).encode() + b"\n")
        await writer.drain()

    def handle(self, line: bytes) -> dict[str, object]:
        """Answer one request line (never raises)."""
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise TriggerError("a request is a JSON object")
            command = request.get("command")
            if command == "status":
                return {"ok": True, "status": self.runtime.status()}
            if command == "trigger":
                return self._trigger(request)
            raise TriggerError(f"command: must be 'trigger' or 'status', got {command!r}")
        except (TriggerError, ValueError, UnicodeDecodeError) as exc:
            self.bad_requests += 1
            self.runtime.drops["bad-control-request"] += 1
            log.warning("bad control request", extra={"fields": {"error": str(exc)}})
            return {"ok": False, "error": str(exc)}
        except Exception as exc:  # the boundary: never stop the daemon
            self.runtime.drops["internal-error"] += 1
            log.exception("control request failed")
            return {"ok": False, "error": f"internal error: {exc}"}

    def _trigger(self, request: dict[str, Any]) -> dict[str, object]:
        kind = request.get("kind")
        params = request.get("params", {})
        trigger = parse_trigger(str(kind), params)
        actions = self.runtime.trigger(trigger)
        refused = [
            a.detail
            for a in actions
            if isinstance(a, Dropped) and a.reason is DropReason.BAD_TRIGGER
        ]
        if refused:
            self.runtime.drops["bad-trigger"] += 1
            return {"ok": False, "error": f"{kind} refused by the agent: {'; '.join(refused)}"}
        return {"ok": True, "kind": kind, "actions": [type(a).__name__ for a in actions]}


def request(path: str | Path, message: dict[str, object], *, timeout: float = 5.0) -> Any:
    """Send one request to a daemon's control socket and return its answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(json.dumps(message).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data)


__all__ = [
    "KINDS",
    "ControlServer",
    "ControlSocketError",
    "TriggerError",
    "check_socket_directory",
    "parse_trigger",
    "parse_words",
    "request",
]
