"""FlowLog keeps one mark per arrival (sequence number and flags) and no count array: what
the metrics read from it is unchanged."""

from __future__ import annotations

import math
import random

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


def reference_marks(arrivals: list[int]) -> list[int]:
    """The marks as the metrics define them, computed the obvious way."""
    seen: set[int] = set()
    highest = -1
    marks = []
    for seq in arrivals:
        if seq in seen:
            marks.append(seq << 2 | DUPLICATE)
        else:
            marks.append(seq << 2 | (REORDERED if seq < highest else 0))
            seen.add(seq)
        highest = max(highest, seq)
    return marks


def test_marks_counts_and_first_arrivals_match_the_definition_on_random_orders() -> None:
    # late, repeated and skipped numbers in every mix: the log's set of numbers skipped
    # (FlowLog.missing) must tell a late first arrival from a repeat exactly
    rng = random.Random(7)
    for _ in range(200):
        arrivals = [rng.randrange(40) for _ in range(rng.randrange(1, 60))]
        log = FlowLog()
        for k, seq in enumerate(arrivals):
            log.on_arrival(seq, k * 0.5)
        assert list(log.marks) == reference_marks(arrivals)
        assert log.received == len(set(arrivals)) and log.max_seq == max(arrivals)
        for seq in range(-1, 45):
            assert log.arrived(seq) == (seq in arrivals)
            if 0 <= seq <= log.max_seq:
                first = log.first_arrival[seq]
                if seq in arrivals:
                    assert first == arrivals.index(seq) * 0.5
                else:
                    assert math.isnan(first)


def test_the_derived_arrays_follow_new_arrivals() -> None:
    log = FlowLog()
    log.on_arrival(0, 1.0)
    assert list(log.arrivals) == [1.0]
    log.on_arrival(1, 2.0)  # after a read: the cached view must not be served stale
    assert list(log.arrivals) == [1.0, 2.0] and list(log.seqs) == [0, 1]
    assert list(log.first_arrival) == [1.0, 2.0]
