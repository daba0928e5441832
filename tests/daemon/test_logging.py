"""Structured logs: one JSON object per line on stderr, filtered by ``--log-level``."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from mip4.cli import main
from mip4.daemon.command import LOG_LEVELS, setup_logging


@pytest.fixture(autouse=True)
def _restore_mip4_logger() -> Iterator[None]:
    logger = logging.getLogger("mip4")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


def _emit_every_level() -> None:
    log = logging.getLogger("mip4.daemon")
    log.debug("dropped", extra={"fields": {"reason": "replayed", "source": "198.18.1.9"}})
    log.info("binding-updated", extra={"fields": {"home_address": "198.18.2.10"}})
    log.warning("bad control request", extra={"fields": {"error": "kind: must be ..."}})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("error while handling input")


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    err = capsys.readouterr().err
    return [json.loads(line) for line in err.splitlines()]  # every line is one JSON object


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("debug", ["debug", "info", "warning", "error"]),
        ("info", ["info", "warning", "error"]),
        ("warning", ["warning", "error"]),
        ("error", ["error"]),
    ],
)
def test_log_lines_are_json_and_the_level_filters(
    level: str, expected: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging(level)
    _emit_every_level()
    lines = _lines(capsys)
    assert [line["level"] for line in lines] == expected
    for line in lines:
        assert line["logger"] == "mip4.daemon"
        assert isinstance(line["ts"], float)
    by_level = {line["level"]: line for line in lines}
    if "debug" in by_level:
        assert by_level["debug"]["msg"] == "dropped"
        assert by_level["debug"]["reason"] == "replayed"  # the event's fields, at top level
    if "info" in by_level:
        assert by_level["info"]["home_address"] == "198.18.2.10"
    assert by_level["error"]["msg"] == "error while handling input"
    assert "ValueError: boom" in str(by_level["error"]["exception"])


def test_other_loggers_are_not_formatted_and_nothing_propagates(
    capsys: pytest.CaptureFixture[str],
) -> None:
    setup_logging("debug")
    logging.getLogger("mip4.daemon.dataplane").info("x", extra={"fields": {"n": 1}})
    [line] = _lines(capsys)
    assert line["logger"] == "mip4.daemon.dataplane" and line["n"] == 1
    assert logging.getLogger("mip4").propagate is False


def test_log_level_choices(capsys: pytest.CaptureFixture[str]) -> None:
    assert LOG_LEVELS == ("debug", "info", "warning", "error")
    with pytest.raises(SystemExit) as caught:
        main(["agent", "--config", "x.toml", "--log-level", "verbose"])
    assert caught.value.code == 2
    assert "--log-level: invalid choice: 'verbose'" in capsys.readouterr().err
