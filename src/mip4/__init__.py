"""mip4: Mobile IPv4 with the low-latency handoffs of RFC 4881.

Layers (imports point downward only): ``wire`` (byte-exact codecs) <- ``core`` (sans-I/O
agents) <- ``sim`` / ``daemon`` (drivers) <- ``lab`` / ``experiments`` <- ``cli``.
"""

__version__ = "0.1.0"
