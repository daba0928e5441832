"""Interop tests: our encodings read back by independent decoders (tshark, our Lua dissector
for tshark, scapy). Frames come from :mod:`tests.interop.frames`."""
