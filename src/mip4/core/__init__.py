"""Sans-I/O Mobile IPv4 agents (RFC 5944, RFC 3024, RFC 4857, RFC 4881).

Every agent is a plain object driven by three kinds of input, each carrying ``now`` (seconds
on the driver's monotonic or virtual clock) and each returning the list of actions it caused:

- :meth:`receive` — a packet received (:class:`~mip4.core.packets.ReceivedPacket`);
- :meth:`l2_trigger` — an L2 trigger (:mod:`mip4.core.triggers`, RFC 4881 Table 1);
- :meth:`timer_expired` — a keyed timer fired (a stale key does nothing).

Actions (:mod:`mip4.core.actions`) are instructions: send a packet, start or cancel a timer
at an absolute deadline, program the data plane, record a drop with its reason. The agent's
state is final when the list is returned; drivers never call back in mid-list.
"""
