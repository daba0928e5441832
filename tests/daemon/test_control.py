"""The control socket: trigger parsing, owner-only permissions, errors never stop it."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import stat
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from mip4.cli import main
from mip4.core.actions import Action, Dropped, DropReason, Notify
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
from mip4.daemon.control import (
    ControlServer,
    ControlSocketError,
    TriggerError,
    check_socket_directory,
    parse_trigger,
    parse_words,
)

MAC = "02:00:00:00:01:01"


@pytest.mark.parametrize(
    ("kind", "words", "expected"),
    [
        ("L2-MT", ["ap=2"], MobileTrigger(new_fa=FaIdentifier(access_point_id=2))),
        (
            "L2-MT",
            ["fa=198.18.1.3", "interface=r0"],
            MobileTrigger(new_fa=FaIdentifier(address=IPv4Address("198.18.1.3")), interface="r0"),
        ),
        (
            "L2-ST",
            [f"mn={MAC}", "home=198.18.2.10", "fa=198.18.1.3"],
            SourceTrigger(
                mn=MnIdentifier(
                    link_address=bytes.fromhex("020000000101"),
                    home_address=IPv4Address("198.18.2.10"),
                ),
                new_fa=FaIdentifier(address=IPv4Address("198.18.1.3")),
            ),
        ),
        (
            "L2-TT",
            [f"mn={MAC}", "ap=0x10"],
            TargetTrigger(
                mn=MnIdentifier(link_address=bytes.fromhex("020000000101")),
                old_fa=FaIdentifier(access_point_id=16),
            ),
        ),
        ("L2-LU", ["interface=r0"], LinkUp(interface="r0")),
        (
            "L2-LU",
            [f"mn={MAC}"],
            LinkUp(mn=MnIdentifier(link_address=bytes.fromhex("020000000101"))),
        ),
        ("L2-LD", [], LinkDown()),
    ],
)
def test_parse_trigger(kind: str, words: list[str], expected: L2Trigger) -> None:
    assert parse_trigger(kind, parse_words(words)) == expected


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("L2-XX", {}, "kind: must be one of"),
        ("L2-MT", {}, "needs fa=ADDRESS or ap=ID"),
        ("L2-MT", {"fa": "1.2.3"}, "fa: not an IPv4 address"),
        ("L2-MT", {"ap": "two"}, "ap: not an integer"),
        ("L2-MT", {"ap": "-1"}, "ap: out of range"),
        ("L2-ST", {"fa": "198.18.1.3"}, "needs mn=MAC"),
        ("L2-ST", {"mn": "zz", "fa": "198.18.1.3"}, "mn: must be a MAC"),
        ("L2-LD", {"bogus": "1"}, "bogus: not a parameter of L2-LD"),
        ("L2-LD", {"home": "198.18.2.10"}, "home: only with mn=MAC"),
        ("L2-LU", {"mn": MAC, "fa": "198.18.1.3"}, "either the FA"),
        ("L2-LU", {"interface": 3}, "params: must map names to strings"),
    ],
)
def test_bad_triggers_are_errors(kind: str, params: dict[str, Any], message: str) -> None:
    with pytest.raises(TriggerError, match=message):
        parse_trigger(kind, params)


def test_words() -> None:
    with pytest.raises(TriggerError, match="key=value"):
        parse_words(["fa"])
    with pytest.raises(TriggerError, match="given twice"):
        parse_words(["ap=1", "ap=2"])


class FakeRuntime:
    def __init__(self) -> None:
        self.drops: collections.Counter[str] = collections.Counter()
        self.triggers: list[L2Trigger] = []

    def status(self) -> dict[str, object]:
        return {"name": "fake", "role": "fa", "agent": {}}

    def trigger(self, trigger: L2Trigger) -> list[Action]:
        self.triggers.append(trigger)
        if isinstance(trigger, MobileTrigger):
            return [Dropped(reason=DropReason.BAD_TRIGGER, detail="MobileTrigger is not for a fa")]
        return [Notify(event="ok")]


async def _talk(path: Path, lines: list[bytes]) -> list[dict[str, Any]]:
    reader, writer = await asyncio.open_unix_connection(str(path))
    answers = []
    for line in lines:
        writer.write(line)
        await writer.drain()
        answers.append(json.loads(await reader.readline()))
    writer.close()
    return answers


def test_socket_is_owner_only_and_survives_bad_requests(tmp_path: Path) -> None:
    path = tmp_path / "run" / "control.sock"
    runtime = FakeRuntime()

    async def scenario() -> list[dict[str, Any]]:
        server = ControlServer(runtime, path)  # type: ignore[arg-type]
        await server.start()
        try:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
            assert path.parent.stat().st_uid == os.geteuid()
            return await _talk(
                path,
                [
                    b"not json\n",
                    b"[1, 2]\n",
                    b'{"command": "reboot"}\n',
                    b'{"command": "trigger", "kind": "L2-LU", "params": {"x": "1"}}\n',
                    b'{"command": "trigger", "kind": "L2-MT", "params": {"ap": "1"}}\n',
                    b'{"command": "trigger", "kind": "L2-LD", "params": {}}\n',
                    b'{"command": "status"}\n',
                ],
            )
        finally:
            await server.close()

    answers = asyncio.run(scenario())
    assert [a["ok"] for a in answers] == [False, False, False, False, False, True, True]
    assert "refused by the agent" in answers[4]["error"]
    assert answers[5] == {"ok": True, "kind": "L2-LD", "actions": ["Notify"]}
    assert answers[6]["status"]["name"] == "fake"
    assert runtime.drops["bad-control-request"] == 4
    assert runtime.drops["bad-trigger"] == 1
    assert not path.exists() and not path.parent.exists()  # removed on close


def test_trigger_and_status_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "control.sock"
    runtime = FakeRuntime()

    async def scenario() -> list[int]:
        server = ControlServer(runtime, path)  # type: ignore[arg-type]
        await server.start()
        try:
            loop = asyncio.get_running_loop()
            codes = []
            for argv in (
                ["trigger", "--socket", str(path), "L2-LD", "interface=r0"],
                ["trigger", "--socket", str(path), "L2-MT", "ap=1"],
                ["trigger", "--socket", str(path), "L2-LD", "nope"],
                ["status", "--socket", str(path), "--json"],
                ["status", "--socket", str(path)],
                ["status", "--socket", str(tmp_path / "absent.sock")],
            ):
                codes.append(await loop.run_in_executor(None, main, argv))
            return codes
        finally:
            await server.close()

    assert asyncio.run(scenario()) == [0, 2, 2, 0, 0, 1]
    out, err = capsys.readouterr()
    assert "L2-LD: ok (Notify)" in out
    assert '"name": "fake"' in out
    assert "refused by the agent" in err
    assert "parameters are written key=value" in err
    assert runtime.triggers == [
        LinkDown(interface="r0"),
        MobileTrigger(new_fa=FaIdentifier(access_point_id=1)),
    ]


def _serve_once(path: Path) -> None:
    async def scenario() -> None:
        server = ControlServer(FakeRuntime(), path)  # type: ignore[arg-type]
        await server.start()
        try:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert (await _talk(path, [b'{"command": "status"}\n']))[0]["ok"] is True
        finally:
            await server.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("mode", [0o1777, 0o755, 0o700])
def test_an_existing_safe_folder_keeps_its_mode(tmp_path: Path, mode: int) -> None:
    # e.g. control_socket = "/tmp/fa.sock": /tmp must stay 1777, not become 0700
    folder = tmp_path / "shared"
    folder.mkdir()
    os.chmod(folder, mode)
    _serve_once(folder / "fa.sock")
    assert stat.S_IMODE(folder.stat().st_mode) == mode
    assert folder.is_dir() and not (folder / "fa.sock").exists()  # only the socket removed


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757])
def test_a_folder_others_may_write_without_the_sticky_bit_is_refused(
    tmp_path: Path, mode: int
) -> None:
    folder = tmp_path / "open"
    folder.mkdir()
    os.chmod(folder, mode)
    server = ControlServer(FakeRuntime(), folder / "fa.sock")  # type: ignore[arg-type]
    with pytest.raises(ControlSocketError, match=r"daemon.control_socket: .*without the sticky"):
        server.prepare()
    assert stat.S_IMODE(folder.stat().st_mode) == mode
    assert list(folder.iterdir()) == []


def test_a_folder_of_another_user_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a folder to another user")
    folder = tmp_path / "theirs"
    folder.mkdir(mode=0o755)
    os.chown(folder, 54321, 54321)
    with pytest.raises(ControlSocketError, match=r"daemon.control_socket: .*belongs to user 54321"):
        check_socket_directory(folder)
    with pytest.raises(ControlSocketError, match=r"daemon.control_socket: .*not a folder"):
        check_socket_directory(Path(__file__))


def test_mip4_agent_refuses_an_unsafe_socket_folder_before_starting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "open"
    folder.mkdir()
    os.chmod(folder, 0o777)
    config = tmp_path / "ha.toml"
    config.write_text(
        'role = "ha"\nname = "ha"\naddress = "198.18.1.1"\n[interfaces]\nhome = "nosuch0"\n'
        f'[daemon]\ncontrol_socket = "{folder / "ha.sock"}"\n'
    )
    assert main(["agent", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "daemon.control_socket:" in err and "sticky" in err
    assert list(folder.iterdir()) == []
