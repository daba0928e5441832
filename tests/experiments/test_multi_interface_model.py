"""The analytical model of method ``multi-interface`` (RFC 4881 Appendix B) and its
agreement with the simulator (:mod:`mip4.experiments.model`, ``mip4 validate``)."""

from __future__ import annotations

from mip4.experiments import validate
from mip4.experiments.model import Parameters, predict


def test_no_l3_extra_with_enough_lead_else_the_shortfall() -> None:
    # the second radio solicits on L2-LU and registers: 2 d_w + 2 (d_w + d_fh) = 48 ms
    assert predict("multi-interface", Parameters()) == 0.0
    assert predict("multi-interface", Parameters(lead=0.0)) == 48.0
    assert predict("multi-interface", Parameters(lead=10.0)) == 38.0
    assert predict("multi-interface", Parameters(lead=10.0, t_l2=500.0)) == 38.0  # no gap
    assert predict("multi-interface", Parameters(lead=48.0)) == 0.0


def test_the_simulator_agrees() -> None:
    points = validate.validate(["multi-interface"], seeds=1, quick=True, workers=1)
    assert points and all(p.model is not None and p.agrees for p in points)
