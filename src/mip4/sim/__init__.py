"""The discrete-event simulator: the real agents of :mod:`mip4.core` in a simulated world.

- :mod:`.engine` — virtual clock and event heap;
- :mod:`.network` — nodes, wired links, radio cells, the driver loop that executes actions;
- :mod:`.dataplane` — every data-plane action on real bytes (tunnels, visitors, buffers);
- :mod:`.radio` — L2-LD / L2-LU and the anticipatory triggers of each cell change;
- :mod:`.mobility` — corridor, ping-pong, fast and grid movement;
- :mod:`.traffic` — CBR flows carrying sequence numbers and send times;
- :mod:`.trace` — typed trace records, JSON lines;
- :mod:`.metrics` — per-handoff metrics computed from the trace (design.md definitions);
- :mod:`.pcap` — capture taps;
- :mod:`.scenario` — TOML scenarios validated with pydantic;
- :mod:`.runner` — build a world, run it, return the JSON result of ``mip4 simulate``.
"""

from mip4.sim.runner import METHODS_AVAILABLE, World, simulate
from mip4.sim.scenario import Scenario, ScenarioError, load_scenario

__all__ = ["METHODS_AVAILABLE", "Scenario", "ScenarioError", "World", "load_scenario", "simulate"]
