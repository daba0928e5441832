"""Experiments: what a researcher runs first (design.md, ``experiments/``).

- :mod:`.library` — the built-in scenarios, radio profiles and the methods available now;
- :mod:`.runner` — one run (a scenario, overrides, a method, a seed) in a way that pickles, so
  that many runs go to local processes or a Dask cluster;
- :mod:`.focus` — the trace records around one handoff of one MN (kept in memory);
- :mod:`.msc` — message sequence charts from the trace: Mermaid text and a drawn SVG;
- :mod:`.plots` — matplotlib figures (bar chart, timelines, sweep lines, model against
  simulation), returned as SVG or PNG bytes;
- :mod:`.compare` — ``mip4 compare``: every method on one scenario, a table and a report;
- :mod:`.report` — the report as one self-contained HTML page and as Markdown;
- :mod:`.sweep` — ``mip4 sweep``: a grid over scenario keys, methods and seeds, tidy CSV;
- :mod:`.model` — the analytical model of design.md; :mod:`.validate` — ``mip4 validate``;
- :mod:`.command` — the four sub-commands (``compare``, ``sweep``, ``scenarios``,
  ``validate``).

The methods compared are whatever :data:`mip4.sim.runner.METHODS_AVAILABLE` holds when the
command runs, so every method the simulator gains appears in every report without a change
here.
"""
