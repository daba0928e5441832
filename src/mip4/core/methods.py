"""The handoff methods by name: what ``mip4 simulate --method`` runs, what a daemon's
``[daemon] method`` may say, and the ``method`` label of the handoff metrics.

- ``standard``: RFC 5944 movement detection (advertisement or lifetime expiry);
- ``standard-solicit``: the MN solicits on L2-LU (RFC 5944 §2.4);
- ``pre-mobile``, ``pre-source``, ``pre-target``: PRE-REGISTRATION (RFC 4881 §3), by which
  trigger starts it (L2-MT at the MN, L2-ST at the oFA, L2-TT at the nFA);
- ``post-source``, ``post-target``: POST-REGISTRATION (RFC 4881 §4.1), by L2-ST or L2-TT;
- ``combined``: both (RFC 4881 §5);
- ``multi-interface``: two radios, make before break (RFC 4881 Appendix B).
"""

from __future__ import annotations

HANDOFF_METHODS = (
    "standard",
    "standard-solicit",
    "pre-mobile",
    "pre-source",
    "pre-target",
    "post-source",
    "post-target",
    "combined",
    "multi-interface",
)

__all__ = ["HANDOFF_METHODS"]
