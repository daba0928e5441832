"""The combined method's timer at the nFA (RFC 4881 §5).

Theory of operation
-------------------
With ``PostRegistrationConfig.combined`` the FA runs PRE-REGISTRATION on L2-ST and L2-TT
(:mod:`mip4.core.pre_registration`) and keeps POST-REGISTRATION
(:mod:`mip4.core.post_registration`) as the fallback. As the nFA it starts a timer
(``combined_timer``, default 1 s) for the MN

- on L2-TT (§5: "the nFA MUST also start a timer when it receives a target trigger"), with
  the oFA named by the trigger, or
- on the low-latency Registration Request when no L2-TT started it (mobile-initiated and
  source-triggered cases), with the oFA named by the request's LLA sub-type 7 (FA IPv4
  Address, §9.7); a request that comes after an L2-TT supplies that address but does not
  restart the timer.

Any Registration Reply relayed for the MN stops it (§5: "MUST be reset"). On expiry the nFA
starts POST-REGISTRATION towards the oFA: an HRqst(t), exactly as after an L2-TT in the
``post-target`` method. The BET this builds ends when a successful reply is relayed later
(:class:`~mip4.core.post_registration.ForeignAgentPostRegistration` ends it on every
registration through the serving FA, §5: "MAY tear down this tunnel").
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

from mip4.core.actions import Action, Notify, TimerKey
from mip4.core.packets import ReceivedPacket
from mip4.core.post_registration import ForeignAgentPostRegistration
from mip4.core.registration import AnyReply, AnyRequest
from mip4.core.triggers import TargetTrigger
from mip4.wire.extensions import LinkLayerAddress
from mip4.wire.lla import EthernetMac, Eui64, FaIpv4Address

COMBINED_TIMER = "combined"


@dataclass(slots=True)
class FallbackTimer:
    """One MN's §5 timer: who the oFA is and the MN's L2 address."""

    home_address: IPv4Address
    link_address: bytes | None
    old_fa: IPv4Address | None
    deadline: float


def combined_lla(request: AnyRequest) -> tuple[IPv4Address | None, bytes | None]:
    """The oFA address (LLA sub-type 7) and the MN's L2 address (sub-type 3 or 4) a
    combined-method Registration Request carries (RFC 4881 §5, §9.7)."""
    old: IPv4Address | None = None
    mac: bytes | None = None
    for ext in request.extensions:
        if not isinstance(ext, LinkLayerAddress):
            continue
        value = ext.value
        if isinstance(value, FaIpv4Address) and old is None:
            old = value.address
        elif isinstance(value, EthernetMac) and mac is None:
            mac = value.mac
        elif isinstance(value, Eui64) and mac is None:
            mac = value.eui64
    return old, mac


class ForeignAgentCombined(ForeignAgentPostRegistration):
    """The nFA's §5 timer on top of POST-REGISTRATION."""

    def _install_combined(self) -> None:
        self._fallbacks: dict[IPv4Address, FallbackTimer] = {}
        post = self._post
        if post is not None and post.combined:
            self._timer_handlers[COMBINED_TIMER] = self._on_combined_timer

    @property
    def _combined_on(self) -> bool:
        post = self._post
        return post is not None and post.combined

    def fallback(self, home_address: IPv4Address) -> FallbackTimer | None:
        return self._fallbacks.get(home_address)

    def _arm_fallback(
        self, home: IPv4Address, mac: bytes | None, old: IPv4Address | None, now: float, cause: str
    ) -> list[Action]:
        timer = self._fallbacks.get(home)
        if timer is not None:
            # already running (L2-TT first): the request only fills in what was missing
            timer.old_fa = timer.old_fa or old
            timer.link_address = timer.link_address or mac
            return []
        deadline = now + self._cfg.combined_timer
        self._fallbacks[home] = FallbackTimer(
            home_address=home, link_address=mac, old_fa=old, deadline=deadline
        )
        return [
            self._start_timer((COMBINED_TIMER, home), deadline),
            Notify(event="combined-timer-started", fields={"mn": str(home), "on": cause}),
        ]

    def _combined_target_trigger(self, trigger: TargetTrigger, now: float) -> list[Action]:
        """§5: L2-TT at the nFA starts the timer (PRE-REGISTRATION runs as well)."""
        home = trigger.mn.home_address
        old = trigger.old_fa.address
        if home is None or (old is not None and old in self.config.addresses):
            return []
        return self._arm_fallback(home, trigger.mn.link_address, old, now, "L2-TT")

    def _on_request(self, request: AnyRequest, packet: ReceivedPacket, now: float) -> list[Action]:
        out = super()._on_request(request, packet, now)
        if not self._combined_on:
            return out
        old, mac = combined_lla(request)
        rec = self._records.get(request.home_address)
        relayed = rec is not None and rec.pending is not None and rec.pending.relayed_at == now
        if old is None or not relayed or old in self.config.addresses:
            return out
        # §5: the low-latency request (LLA 138 with the MN's L2 address and sub-type 7).
        return out + self._arm_fallback(request.home_address, mac, old, now, "request")

    def _on_reply(self, reply: AnyReply, packet: ReceivedPacket, now: float) -> list[Action]:
        had_pending = self._records.get(reply.home_address)
        pending_before = had_pending is not None and had_pending.pending is not None
        out = super()._on_reply(reply, packet, now)
        rec = self._records.get(reply.home_address)
        answered = pending_before and (rec is None or rec.pending is None)
        timer = self._fallbacks.get(reply.home_address)
        if timer is not None and answered:
            # §5: "the timer MUST be reset when the Registration Reply message is received"
            del self._fallbacks[reply.home_address]
            out += self._cancel_timer((COMBINED_TIMER, reply.home_address))
            out.append(
                Notify(event="combined-timer-stopped", fields={"mn": str(timer.home_address)})
            )
        return out

    def _on_combined_timer(self, key: TimerKey, now: float) -> list[Action]:
        """§5: no reply in time -> POST-REGISTRATION towards the oFA (an HRqst(t))."""
        home = key[1]
        assert isinstance(home, IPv4Address)
        timer = self._fallbacks.pop(home, None)
        if timer is None or timer.old_fa is None or timer.link_address is None:
            return []
        return [
            Notify(event="combined-fallback", fields={"mn": str(home), "ofa": str(timer.old_fa)}),
            *self._target_trigger(timer.link_address, home, timer.old_fa, now),
        ]


__all__ = ["COMBINED_TIMER", "FallbackTimer", "ForeignAgentCombined", "combined_lla"]
