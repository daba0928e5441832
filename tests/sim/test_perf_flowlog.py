"""FlowLog keeps one mark per arrival (sequence number and flags) and no count array: what
the metrics read from it is unchanged."""

from __future__ import annotations

import math

from mip4.sim.metrics import DUPLICATE, REORDERED, FlowLog


def test_arrivals_marks_and_first_arrivals() -> None:
    log = FlowLog()
    for seq in range(5):
        log.on_sent(seq, seq * 0.02)
    for seq, time in [(0, 0.1), (2, 0.2), (1, 0.3), (2, 0.4), (4, 0.5), (300, 0.6)]:
        log.on_arrival(seq, time)
    assert list(log.arrivals) == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    assert list(log.seqs) == [0, 2, 1, 2, 4, 300]
    assert list(log.dup) == [0, 0, 0, 1, 0, 0]
    assert list(log.reordered) == [0, 0, 1, 0, 0, 0]  # a repeat is not counted as reordered
    assert log.count(DUPLICATE) == 1 and log.count(REORDERED) == 1
    assert log.count(DUPLICATE, 0, 3) == 0 and log.count(REORDERED, 2, 3) == 1
    assert log.received == 5 and log.max_seq == 300
    assert [log.arrived(s) for s in (0, 1, 2, 3, 4, 299, 300, 10**6)] == [
        True,
        True,
        True,
        False,
        True,
        False,
        True,
        False,
    ]
    assert log.first_arrival[2] == 0.2  # the first of the two
    assert math.isnan(log.first_arrival[3])
