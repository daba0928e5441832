"""Byte-exact codecs for Mobile IPv4 and RFC 4881 (no state, no clock, no I/O).

Every message and extension is a frozen dataclass with ``encode() -> bytes``, a
``decode(bytes)`` classmethod and ``to_dict()`` for JSON. Decoders raise only the
:class:`~mip4.wire.errors.DecodeError` family, naming the field and byte offset.
"""
