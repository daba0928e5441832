"""``mip4 status``'s readable view: every tunnel with its remaining lifetime, and the BETs.

The status is built the way :meth:`mip4.daemon.runtime.Runtime.status` builds it, from real
core agents (a POST-REGISTRATION source-triggered handoff, RFC 4881 §4.1, on the in-test
wire) and a :class:`~mip4.daemon.dataplane.DataPlane` programmed by their actions.
"""

from __future__ import annotations

import re
import typing

from mip4.core.actions import DataPlaneAction
from mip4.core.agent import Agent
from mip4.daemon.command import render_status
from mip4.daemon.dataplane import DataPlane
from tests.core.test_post_registration import deferred_handoff, post_net, registered
from tests.core.topology import FA1_ADDR, FA2_ADDR, HOME, Net

_DATA_PLANE = typing.get_args(DataPlaneAction)


def _status(net: Net, name: str, agent: Agent, role: str) -> dict[str, object]:
    address = typing.cast(typing.Any, agent).config.address
    dataplane = DataPlane(role=role, address=address, tun_name=f"mip4-{name}")
    for _time, who, action in net.wire.actions:
        if who == name and isinstance(action, _DATA_PLANE):
            dataplane.apply(action)
    snapshot = agent.snapshot(net.wire.now)
    return {
        "name": name,
        "role": role,
        "uptime": net.wire.now,
        "agent": snapshot,
        "agent_drops": snapshot.get("drops", {}),
        "dataplane": dataplane.snapshot(),
        "daemon": {"drops": {"bad-trigger": 2}},
    }


def _row(text: str, *cells: str) -> str:
    """The one table row holding every cell, in order."""
    pattern = r"[^\n]*".join(re.escape(cell) for cell in cells)
    rows = re.findall(rf"^[^\n]*{pattern}[^\n]*$", text, re.MULTILINE)
    assert len(rows) == 1, (cells, text)
    return str(rows[0])


def test_the_readable_status_shows_bets_and_every_tunnel_s_remaining_lifetime() -> None:
    net = post_net()
    deferred_handoff(net)
    net.wire.run(net.wire.now + 0.01)

    ofa = _status(net, "fa1", net.fa1, "fa")
    bet = ofa["agent"]["post_registration"]["bets"][str(HOME)]  # type: ignore[index]
    assert bet["phase"] == "forwarding" and bet["lifetime_remaining"] > 0
    text = render_status(ofa, width=160)
    assert "POST-REGISTRATION tunnels" in text
    remaining = f"{bet['lifetime_remaining']:.1f}s"
    _row(text, str(HOME), "forwarding", str(FA2_ADDR), str(bet["lifetime"]), remaining)
    _row(text, "forward", str(HOME), f"-> {FA2_ADDR}", remaining)  # the data plane's row
    _row(text, "daemon", "bad-trigger", "2")

    nfa = _status(net, "fa2", net.fa2, "fa")
    serving = nfa["agent"]["post_registration"]["bets"][str(HOME)]  # type: ignore[index]
    assert serving["phase"] == "delivering"
    text = render_status(nfa, width=160)
    remaining = f"{serving['lifetime_remaining']:.1f}s"
    _row(text, str(HOME), "delivering", str(FA1_ADDR), remaining)
    # the reverse tunnel of the BET (§4.1 step 4b) lives as long as the BET
    _row(text, "uplink", str(HOME), f"reverse-tunnel -> {FA1_ADDR}", remaining)
    _row(text, "deliver", str(HOME), remaining)  # delivered under the BET, not yet registered


def test_the_readable_status_shows_the_ha_s_tunnel_and_the_fa_s_delivery_lifetimes() -> None:
    net = post_net()
    registered(net)
    net.wire.run(net.wire.now + 1.0)

    ha = _status(net, "ha", net.ha, "ha")
    binding = ha["agent"]["bindings"][str(HOME)][0]  # type: ignore[index]
    text = render_status(ha, width=160)
    _row(text, "tunnel", str(HOME), f"-> {FA1_ADDR}", f"{binding['lifetime_remaining']:.1f}s")

    fa = _status(net, "fa1", net.fa1, "fa")
    visitor = fa["agent"]["visitors"][str(HOME)]  # type: ignore[index]
    text = render_status(fa, width=160)
    _row(text, "deliver", str(HOME), f"{visitor['lifetime_remaining']:.1f}s")
    assert "POST-REGISTRATION tunnels" not in text  # no BET
