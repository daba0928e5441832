"""Radio: the L2 triggers of every cell change (design.md, "The simulated world").

A cell change from the oFA's cell to the nFA's is an L2 handoff:

1. ``trigger_lead_ms`` before L2-LD, the method's anticipatory trigger (RFC 4881 Table 1):
   L2-MT at the MN (``pre-mobile``), L2-ST at the oFA (``pre-source``, ``post-source``)
   or L2-TT at the nFA (``pre-target``, ``post-target``); ``combined`` takes any of the
   three (``protocol.combined_trigger``, L2-ST by default: RFC 4881 §5 combines
   PRE-REGISTRATION in any of its modes with the nFA's timer); the standard methods have
   none;
2. at L2-LD the MN's radio leaves the old cell: L2-LD at the MN, then at the oFA;
3. ``l2_handoff_ms`` later the radio joins the new cell: L2-LU at the MN, then at the nFA.

Between 2 and 3 the MN can neither send nor receive (one radio per MN). At the start of a run
each MN's radio is in its first cell when its agent starts, then L2-LU reaches the MN and
that cell's FA.

Method ``multi-interface`` (RFC 4881 Appendix B, :mod:`mip4.sim.multi_radio`): the MN has
two radios and makes the move before it breaks the old link: ``trigger_lead_ms`` before
L2-LD the free radio joins the new cell (L2-LU on that interface at the MN and the nFA);
at L2-LD the old radio leaves its cell (L2-LD on the old interface at the MN and the oFA).
The MN's L2-LD record carries ``make_before_break``: the MN was never without a link, so
the metrics count an L2 gap of 0 (:mod:`mip4.sim.metrics`).
"""

from __future__ import annotations

from ipaddress import IPv4Address

from mip4.core.triggers import (
    FaIdentifier,
    LinkDown,
    LinkUp,
    MnIdentifier,
    MobileTrigger,
    SourceTrigger,
    TargetTrigger,
)
from mip4.sim.engine import Engine
from mip4.sim.mobility import MobilityPlan, Move
from mip4.sim.multi_radio import MultiRadioHost
from mip4.sim.network import AIR, AgentNode, Cell, MobileNodeHost, Network

ANTICIPATORY_TRIGGER: dict[str, str | None] = {
    "standard": None,
    "standard-solicit": None,
    "pre-mobile": "L2-MT",
    "pre-source": "L2-ST",
    "pre-target": "L2-TT",
    "post-source": "L2-ST",
    "post-target": "L2-TT",
    "combined": "L2-ST",  # the default; Radio(combined_trigger=...) picks another
    "multi-interface": None,  # RFC 4881 Appendix B: the second radio comes up instead
}

# RFC 4881 §5: the anticipatory triggers the combined method may start from
COMBINED_TRIGGERS = ("L2-ST", "L2-TT", "L2-MT")


def fa_identifier(cell: Cell) -> FaIdentifier:
    return FaIdentifier(address=IPv4Address(cell.fa.address), access_point_id=cell.access_point_id)


def mn_identifier(mn: MobileNodeHost) -> MnIdentifier:
    return MnIdentifier(link_address=mn.mac, home_address=IPv4Address(mn.address))


class Radio:
    """Schedules attachments and L2 triggers for every MN's mobility plan."""

    def __init__(
        self,
        net: Network,
        engine: Engine,
        *,
        method: str,
        l2_handoff_s: float,
        trigger_lead_s: float,
        combined_trigger: str = "L2-ST",
    ) -> None:
        if combined_trigger not in COMBINED_TRIGGERS:
            raise ValueError(
                f"combined_trigger must be one of {', '.join(COMBINED_TRIGGERS)}, "
                f"not {combined_trigger!r}"
            )
        self.net = net
        self.engine = engine
        self.trigger = combined_trigger if method == "combined" else ANTICIPATORY_TRIGGER[method]
        self.l2_handoff_s = l2_handoff_s
        self.trigger_lead_s = trigger_lead_s

    def schedule(self, mn: MobileNodeHost, mobility: MobilityPlan, start: float = 0.0) -> None:
        cells = self.net.cells
        self.engine.at(start, self.power_on, mn, cells[mobility.start_cell])
        for move in mobility.moves:
            self.schedule_move(mn, move)

    def schedule_move(self, mn: MobileNodeHost, move: Move) -> None:
        cells = self.net.cells
        old, new = cells[move.source], cells[move.target]
        engine = self.engine
        if isinstance(mn, MultiRadioHost):
            engine.at(max(0.0, move.time - self.trigger_lead_s), self.second_up, mn, old, new)
            engine.at(move.time, self.old_down, mn, old, new)
            return
        if self.trigger is not None:
            engine.at(max(0.0, move.time - self.trigger_lead_s), self.anticipate, mn, old, new)
        engine.at(move.time, self.link_down, mn, old, new)
        engine.at(move.time + self.l2_handoff_s, self.link_up, mn, new, old)

    def _fields(self, mn: MobileNodeHost, old: Cell | None, new: Cell | None) -> dict[str, object]:
        fields: dict[str, object] = {"mn": mn.name}
        if old is not None:
            fields["from"] = old.fa.name
        if new is not None:
            fields["to"] = new.fa.name
        return fields

    def anticipate(self, mn: MobileNodeHost, old: Cell, new: Cell) -> None:
        fields = self._fields(mn, old, new)
        if self.trigger == "L2-MT":
            mn.l2_trigger(MobileTrigger(new_fa=fa_identifier(new), interface=AIR), fields)
        elif self.trigger == "L2-ST":
            old.fa.l2_trigger(
                SourceTrigger(mn=mn_identifier(mn), new_fa=fa_identifier(new)), fields
            )
        elif self.trigger == "L2-TT":
            new.fa.l2_trigger(
                TargetTrigger(mn=mn_identifier(mn), old_fa=fa_identifier(old)), fields
            )

    def link_down(self, mn: MobileNodeHost, old: Cell, new: Cell) -> None:
        fields = self._fields(mn, old, new)
        mn.detach()
        mn.l2_trigger(LinkDown(interface=AIR), fields)
        fa: AgentNode = old.fa
        fa.l2_trigger(LinkDown(interface=AIR, mn=mn_identifier(mn)), fields)

    def second_up(self, mn: MultiRadioHost, old: Cell, new: Cell) -> None:
        """Make before break: the free radio joins the new cell (L2-LU on its interface)."""
        radio = mn.free_radio()
        if radio is None:
            # Both radios busy (moves closer than the lead): the next radio to leave its
            # cell joins this one, after an L2 handoff (break before make).
            mn.waiting.append((old, new))
            return
        radio.attach(new)
        mn.came_up[new.index] = self.engine.now
        interface = mn.interface_of(radio)
        fields = self._fields(mn, old, new)
        mn.l2_trigger(LinkUp(interface=interface, fa=fa_identifier(new)), fields)
        identifier = MnIdentifier(link_address=radio.mac, home_address=IPv4Address(mn.address))
        new.fa.l2_trigger(LinkUp(interface=AIR, mn=identifier), fields)

    def old_down(self, mn: MultiRadioHost, old: Cell, new: Cell) -> None:
        """The old radio leaves its cell (L2-LD on its interface); no L2 gap."""
        radio = mn.radio_in(old)
        if radio is None:
            return
        radio.detach()
        if mn.waiting:
            waiting = mn.waiting.pop(0)
            self.engine.at(self.engine.now + self.l2_handoff_s, self.second_up, mn, *waiting)
        interface = mn.interface_of(radio)
        fields = {**self._fields(mn, old, new), "make_before_break": True}
        came_up = mn.came_up.pop(new.index, None)
        if came_up is not None:
            fields["new_link_up"] = came_up
        mn.l2_trigger(LinkDown(interface=interface), fields)
        identifier = MnIdentifier(link_address=radio.mac, home_address=IPv4Address(mn.address))
        old.fa.l2_trigger(LinkDown(interface=AIR, mn=identifier), fields)

    def power_on(self, mn: MobileNodeHost, cell: Cell) -> None:
        """The MN's radio is in ``cell`` when its agent starts; then L2-LU at both ends."""
        mn.attach(cell)
        mn.start()
        self.link_up(mn, cell, None)

    def link_up(self, mn: MobileNodeHost, new: Cell, old: Cell | None) -> None:
        fields = self._fields(mn, old, new)
        if mn.cell is not new:
            mn.attach(new)
        mn.l2_trigger(LinkUp(interface=AIR, fa=fa_identifier(new)), fields)
        new.fa.l2_trigger(LinkUp(interface=AIR, mn=mn_identifier(mn)), fields)
