"""Deferred registration at the mobile node (RFC 4881 §4.4).

Theory of operation
-------------------
With ``MobileNodeConfig.deferred_registration`` the MN takes no part in a
POST-REGISTRATION handoff (§4, §4.8): on L2-LU at a new FA it neither solicits nor
registers. It keeps its default router, the FA it registered with (the anchor), and its
ARP entry for it (a ``SetDefaultRouter`` without a link-layer address: the data plane's
entry as it stands): the nFA's unsolicited unicast proxy ARP Reply (§4.1 step 4b, the FA's
``AnnounceProxyArp``; RFC 826, RFC 5944 §4.6: an existing entry is updated) points that
entry at the nFA's MAC, so the uplink reaches the nFA without the MN ever resolving the
anchor's address, which it could only do by a broadcast ARP Request, forbidden away from
home (RFC 5944 §4.6). It does not restate the anchor's MAC either: that would overwrite an
announcement that reached it first. Its traffic flows through the BET meanwhile.

It registers when one of §4.4's events comes:

1. the FA advertises (the BET is ending or failed, §4.4 event 1, §8.2): "The MN MUST
   perform a Mobile IPv4 Registration when it receives an Agent Advertisement following a
   POST-REGISTRATION handoff" — even a non-eager MN switches to that FA;
2. it decides to: before the lifetime of its default-router entry (the anchor's ICMP
   Lifetime) runs out it MUST solicit (``post-solicit`` timer, ``solicit_margin`` before),
   and registers on the answer;
3. (a source-triggered handoff the nFA cannot do) comes to the MN as event 1.

In the combined method (``combined_method``) the MN's low-latency Registration Request also
names the oFA in an LLA sub-type 7 (§5, §9.7).
"""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address

from mip4.core.actions import Action, Notify, SetDefaultRouter, TimerKey
from mip4.core.mn_discovery import MobileNodeDiscovery
from mip4.core.mn_state import HeardAgent
from mip4.core.packets import ReceivedPacket
from mip4.core.registration import AnyRequest
from mip4.core.triggers import LinkUp
from mip4.wire.extensions import LinkLayerAddress
from mip4.wire.icmp import AgentAdvertisement
from mip4.wire.lla import FaIpv4Address

POST_SOLICIT_TIMER = "post-solicit"
SOLICIT_MARGIN = 0.5  # seconds before the router entry's lifetime ends


class MobileNodePostRegistration(MobileNodeDiscovery):
    """The MN side of POST-REGISTRATION: deferring, then registering (§4.4)."""

    def _install_post_registration(self) -> None:
        self._deferred_from: IPv4Address | None = None  # the anchor while deferring
        if not self.config.deferred_registration:
            return
        previous = self._trigger_handlers.get(LinkUp)
        previous_advertisement = self._icmp_handlers.get(AgentAdvertisement)

        def link_up(trigger: LinkUp, now: float) -> list[Action]:
            out = [] if previous is None else previous(trigger, now)
            return out + self._deferred_link_up(trigger, now)

        def advertisement(
            message: AgentAdvertisement, packet: ReceivedPacket, now: float
        ) -> list[Action]:
            deferring = self._deferred_from
            out = (
                []
                if previous_advertisement is None
                else previous_advertisement(message, packet, now)
            )
            return out + self._deferred_advertisement(deferring, message, packet, now)

        self._trigger_handlers[LinkUp] = link_up
        self._icmp_handlers[AgentAdvertisement] = advertisement
        self._timer_handlers[POST_SOLICIT_TIMER] = self._on_post_solicit

    @property
    def deferring(self) -> bool:
        """True while the MN defers its registration after a POST-REGISTRATION handoff."""
        return self._deferred_from is not None

    def _finish(self, request: AnyRequest, agent: HeardAgent, reverse: bool) -> AnyRequest:
        """§5: in the combined method the low-latency request (built while PRE-REGISTRATION
        has an oFA to route it through, :mod:`mip4.core.mn_pre_registration`) carries the
        oFA's address in an LLA sub-type 7 (§9.7), after the authorization-enabling
        extension, where the nFA reads and removes it."""
        registration = self._registration
        if (
            self.config.combined_method
            and getattr(self, "_ll_router_mac", None) is not None
            and registration is not None
        ):
            lla = LinkLayerAddress(value=FaIpv4Address(registration.agent))
            request = dataclasses.replace(request, extensions=(*request.extensions, lla))
        return super()._finish(request, agent, reverse)

    def _deferred_link_up(self, trigger: LinkUp, now: float) -> list[Action]:
        current = self._current
        reg = self._registration
        fa = trigger.fa
        if current is None or reg is None or fa is None or fa.address is None:
            return []
        if fa.address == current.address:
            # Back at the FA it registered with (a ping-pong, RFC 4881 §4.1 step 6, or the
            # return to the anchor, §4.2 step 6): its router again, at once.
            self._deferred_from = None
            back = self._cancel_timer((POST_SOLICIT_TIMER,))
            if self._router is None and self._link_up:
                back.append(self._set_router(current))
            return back
        # §4.4: defer; keep the anchor as default router and its ARP entry, which the nFA's
        # unicast proxy ARP Reply (§4.1 step 4b) updates: no link address here.
        self._deferred_from = current.address
        self._router = current.address
        out: list[Action] = [
            SetDefaultRouter(router=current.address, interface=self.config.interface),
            Notify(
                event="registration-deferred",
                fields={"anchor": str(current.address), "fa": str(fa.address)},
            ),
        ]
        # §4.4: solicit before the default-router entry's lifetime runs out.
        deadline = max(now, current.expires_at - SOLICIT_MARGIN)
        out.append(self._start_timer((POST_SOLICIT_TIMER,), deadline))
        return out

    def _deferred_advertisement(
        self,
        deferring: IPv4Address | None,
        message: AgentAdvertisement,
        packet: ReceivedPacket,
        now: float,
    ) -> list[Action]:
        if deferring is None or packet.source == deferring:
            return []
        self._deferred_from = None
        out = self._cancel_timer((POST_SOLICIT_TIMER,))
        agent = self._agents.get(packet.source)
        current = self._current
        if agent is None or not agent.is_foreign_agent or not agent.care_of_addresses:
            return out
        if current is not None and current.address == agent.address:
            return out  # the base procedure switched and registers already (eager)
        # §4.4: "The MN MUST perform a Mobile IPv4 Registration when it receives an Agent
        # Advertisement following a POST-REGISTRATION handoff."
        return out + self._switch_to(agent, now)

    def _on_post_solicit(self, key: TimerKey, now: float) -> list[Action]:
        if self._deferred_from is None or not self._link_up:
            return []
        return [
            self._solicitation_packet(now),
            Notify(event="deferred-solicitation", fields={"anchor": str(self._deferred_from)}),
        ]


__all__ = ["POST_SOLICIT_TIMER", "MobileNodePostRegistration"]
