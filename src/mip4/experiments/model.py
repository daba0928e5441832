"""The analytical model of design.md ("Analytical model"): the expected ``l3_extra_ms``.

Notation (milliseconds): one-way delays ``d_w`` (MN-FA radio), ``d_fh`` (FA-HA), ``d_ff``
(FA-FA); L2 handoff time ``t_l2``; advertisement interval ``t_adv``; anticipatory trigger
lead ``lead``. No buffering, no loss. The simulator delivers whole packets, so it agrees with
the model when the two differ by less than one packet interval.

- ``standard``: W + 2(d_w + d_fh), with W the wait from L2-LU for the next periodic
  advertisement, uniform over one interval: its mean T_adv/2.
- ``standard-solicit``: 2 d_w (solicitation, advertisement) + 2(d_w + d_fh).
- ``pre-*``: the variant's signalling S runs from the trigger to the HA, which then bicasts
  (S bit) to the oFA and the nFA. The packet the ideal stream would deliver first after L2-LU
  passes the HA at L2-LU - (d_fh + d_w), so l3_extra = max(0, S - lead - t_l2 + d_fh + d_w).
  S is 2 d_w + d_ff + d_fh for ``pre-source`` (PrRtAdv from the oFA, the request through the
  oFA to the nFA, on to the HA), 3 d_w + d_ff + d_fh for ``pre-mobile`` (PrRtSol/PrRtAdv
  first) and 2 d_ff + 2 d_w + d_fh for ``pre-target`` (the nFA's advertisement reaches the MN
  through the oFA). When the lead is too short for the MN's request to reach the oFA before
  L2-LD, the MN falls back to soliciting on L2-LU: ``standard-solicit``.
- ``post-*``: the HRqst/HRply handshake (2 d_ff) sets up the BET; once it is up before L2-LD
  the only extra is the tunnel hop, d_ff; with less lead, packets reaching the oFA before the
  BET exists are lost: d_ff + max(0, 2 d_ff - lead).
- ``combined``: as ``pre-source`` (design.md: as PRE when it completes). Its POST fallback
  starts only when the nFA's timer (1 s, RFC 4881 §5) expires after the low-latency request
  or L2-TT reached it, i.e. when the Registration Reply is lost, which the model (no loss)
  leaves out. When the lead is too short for the request to leave through the oFA, no timer
  starts and the MN falls back on L2-LU as in PRE-REGISTRATION (§8.1): ``standard-solicit``.
- ``multi-interface`` (RFC 4881 Appendix B): the second radio comes up ``lead`` before the
  old link goes down and does what ``standard-solicit`` does after L2-LU; the old binding
  stays (S bit) until the new one works, and there is no L2 gap, so
  l3_extra = max(0, 2 d_w + 2(d_w + d_fh) - lead).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Parameters:
    d_w: float = 2.0
    d_fh: float = 20.0
    d_ff: float = 2.0
    t_l2: float = 100.0
    t_adv: float = 1000.0
    lead: float = 200.0


def _standard_solicit(p: Parameters) -> float:
    return 2 * p.d_w + 2 * (p.d_w + p.d_fh)


def _pre(p: Parameters, signalling: float, request_out: float) -> float:
    if p.lead < request_out + p.d_w:  # the request cannot reach the oFA before L2-LD
        return _standard_solicit(p)
    return max(0.0, signalling - p.lead - p.t_l2 + p.d_fh + p.d_w)


def _post(p: Parameters) -> float:
    return p.d_ff + max(0.0, 2 * p.d_ff - p.lead)


def predict(method: str, p: Parameters) -> float | None:
    """The model's mean ``l3_extra_ms`` for ``method`` (None: a method it does not cover)."""
    if method == "standard":
        return p.t_adv / 2 + 2 * (p.d_w + p.d_fh)
    if method == "standard-solicit":
        return _standard_solicit(p)
    if method == "pre-source":
        return _pre(p, 2 * p.d_w + p.d_ff + p.d_fh, p.d_w)
    if method == "pre-mobile":
        return _pre(p, 3 * p.d_w + p.d_ff + p.d_fh, 2 * p.d_w)
    if method == "pre-target":
        return _pre(p, 2 * p.d_ff + 2 * p.d_w + p.d_fh, p.d_ff + p.d_w)
    if method in ("post-source", "post-target"):
        return _post(p)
    if method == "combined":
        return _pre(p, 2 * p.d_w + p.d_ff + p.d_fh, p.d_w)
    if method == "multi-interface":
        return max(0.0, _standard_solicit(p) - p.lead)
    return None
