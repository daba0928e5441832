"""The ``mip4 compare`` report: ``report.html`` (one self-contained page) and ``report.md``.

Files written into the output folder::

    report.html            every figure embedded (SVG as data: URLs), no script or style
                           from the network; the Mermaid source of each sequence chart is
                           inlined in a <pre class="mermaid"> beside the drawn chart
    report.md              the same, linking the SVG files; Mermaid in ```mermaid blocks
    results.json           the ``compare --json`` object of design.md
    runs/METHOD.json       each method's full ``simulate --json`` object
    disruption-loss.svg    bar chart of disruption and loss per method (each one's L2 gap
                           marked on its bar as its floor)
    timeline.svg           one panel per method around one handoff
    msc-METHOD.svg / .mmd  message sequence chart per method, drawn and as Mermaid text
    traces/METHOD.jsonl    the trace: control records of every node, data records of MN1
                           (without the drop record of each user packet lost)
    pcap/METHOD/*.pcap     capture taps: each MN's air interface, the HA's and FAs' wired side
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path

from mip4.experiments.compare import (
    TABLE_COLUMNS,
    Comparison,
    compare_json,
    table_rows,
    timeline_data,
    timeline_span,
    write_json,
)
from mip4.experiments.msc import draw, mermaid
from mip4.experiments.plots import bar_chart, timeline

HOW_TO_READ = (
    "The bar chart gives, for each method, the mean downlink "
    "disruption per handoff (bar), its 95th percentile (dash) and maximum (triangle); the red "
    "dashed mark across each bar is that method's mean L2 gap, the time its "
    "radio is away between L2-LD and L2-LU, which no layer-3 method can beat: the distance "
    "from the mark to the top of the bar is what layer 3 adds (a method with a second radio, "
    "multi-interface, has no gap, so its mark is at 0). Its right half counts the packets "
    "lost and duplicated over the whole run. The timeline zooms on one handoff of MN1 (its "
    "first, or the one chosen with --handoff), one panel per method: each grey dot is a "
    "downlink "
    "packet leaving the CN (sequence number against time), each coloured dot that packet "
    "arriving at the MN, red crosses the packets that never arrive; the shaded band is the "
    "L2 gap, the dotted line the anticipatory trigger (L2-MT/ST/TT) when the method has one, "
    "and the ticks along the top are the control messages, labelled with their sender. The "
    "horizontal gap in the coloured dots is the disruption; a method that loses nothing "
    "shows dots resuming right after L2-LU with no red crosses. The sequence charts list the "
    "same handoff's messages as the agents exchanged them (red arrows on the air, blue on "
    "the wired core), with the L2 triggers (yellow) and the data-plane changes (green); the "
    "time of each row is relative to L2-LD. Rows, bars, panels and charts labelled "
    "'METHOD (smooth)' ran with protocol.smooth_handoff=true (buffering beyond RFC 4881: "
    "the oFA forwards what still arrives for the MN, the nFA holds it until L2-LU), the "
    "others without; `mip4 compare --no-smooth` leaves the smooth variants out."
)


@dataclass(frozen=True, slots=True)
class Figure:
    """One figure of the report: a file, its caption and an anchor."""

    ident: str
    filename: str
    caption: str
    svg: bytes
    mermaid: str | None = None


def figures(comparison: Comparison) -> list[Figure]:
    """Every figure of the report, drawn."""
    s = comparison.scenario
    methods = [r.label for r in comparison.runs]
    out = [
        Figure(
            "disruption-loss",
            "disruption-loss.svg",
            f"Disruption and loss per method on {s.name} (seed {comparison.seed}): mean "
            "downlink disruption per handoff with p95 and max, each method's mean L2 gap "
            "marked across its bar as its physical floor; packets lost and duplicated over "
            "the whole run.",
            bar_chart(methods, [r.summary for r in comparison.runs]),
        )
    ]
    span = timeline_span(comparison.runs)
    if span is not None:
        panels = [timeline_data(r, span) for r in comparison.runs]
        first = comparison.runs[0].window
        assert first is not None
        out.append(
            Figure(
                "timeline",
                "timeline.svg",
                f"Timeline of a handoff of {first.mn} ({first.source} to "
                f"{first.target}) for each method: downlink sequence numbers against time "
                "relative to L2-LD, the L2 gap shaded, the trigger dotted, the signalling "
                "messages along the top.",
                timeline(panels, span=span),
            )
        )
    for run in comparison.runs:
        if run.window is None:
            continue
        title = f"{run.label}: {run.window.mn} {run.window.source} -> {run.window.target}"
        out.append(
            Figure(
                f"msc-{run.slug}",
                f"msc-{run.slug}.svg",
                f"Message sequence chart, {run.label}: {len(run.events)} messages, L2 "
                f"triggers and data-plane changes of {run.window.mn}'s handoff from "
                f"{run.window.source} to {run.window.target}, times relative to L2-LD, "
                "taken from the trace.",
                draw(run.window, run.names, run.events, title=title),
                mermaid(run.window, run.names, run.events, title=title),
            )
        )
    return out


def write_report(comparison: Comparison, out: Path) -> list[Figure]:
    """Write every file of the report into ``out`` (see the module docstring)."""
    out.mkdir(parents=True, exist_ok=True)
    write_json(compare_json(comparison), out / "results.json")
    (out / "runs").mkdir(exist_ok=True)
    for run in comparison.runs:
        write_json(run.result, out / "runs" / f"{run.slug}.json")
    figs = figures(comparison)
    for fig in figs:
        (out / fig.filename).write_bytes(fig.svg)
        if fig.mermaid is not None:
            (out / fig.filename.replace(".svg", ".mmd")).write_text(fig.mermaid, "utf-8")
    (out / "report.html").write_text(render_html(comparison, figs, out), "utf-8")
    (out / "report.md").write_text(render_markdown(comparison, figs, out), "utf-8")
    return figs


def _params_lines(comparison: Comparison) -> list[tuple[str, str]]:
    s = comparison.scenario
    t, r, m, tr, p = s.topology, s.radio, s.mobility, s.traffic, s.protocol
    return [
        ("description", s.description or "-"),
        ("seed", str(comparison.seed)),
        ("cells (FAs)", f"{t.fas}{' under a GFA' if t.gfa else ''}"),
        ("MNs", str(m.mns)),
        ("mobility", f"{m.model}, dwell {m.dwell_s:g} s"),
        (
            "radio",
            f"{r.profile}: d_w {r.air_delay_ms:g} ms, T_L2 {r.l2_handoff_ms:g} ms, "
            f"trigger lead {r.trigger_lead_ms:g} ms, air loss {r.air_loss:g}",
        ),
        (
            "core",
            f"d_FH {t.ha_delay_ms:g} ms, d_FF {t.fa_delay_ms:g} ms, CN-HA {t.cn_delay_ms:g} ms",
        ),
        ("traffic", f"CBR every {tr.interval_ms:g} ms, {tr.payload_bytes} B payload"),
        (
            "protocol",
            f"T_adv {p.advertisement_interval_ms:g} ms, reverse tunnel "
            f"{p.reverse_tunnel}, {p.encapsulation}",
        ),
        ("methods", ", ".join(r.label for r in comparison.runs)),
        ("reproduce", comparison.command_line()),
    ] + ([("shown by this scenario", comparison.featured_text())] if comparison.featured else [])


def _files(comparison: Comparison, out: Path) -> list[str]:
    names = ["results.json"]
    names += [f"runs/{r.slug}.json" for r in comparison.runs]
    names += [f"traces/{r.slug}.jsonl" for r in comparison.runs]
    pcaps = sorted(p.relative_to(out).as_posix() for p in (out / "pcap").glob("*/*.pcap"))
    return names + pcaps


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1150px;
       color: #222; line-height: 1.45; padding: 0 1em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.featured td { background: #fff8e1; }
figure { margin: 1.5em 0; border: 1px solid #ddd; padding: 0.8em; }
figure img { max-width: 100%; height: auto; display: block; }
figcaption { font-size: 0.9em; color: #333; margin-top: 0.5em; }
pre.mermaid { background: #f6f8fa; padding: 0.6em; font-size: 0.8em; overflow-x: auto; }
"""

CHECK_SCRIPT = """
window.addEventListener('load', function () {
  var figs = document.querySelectorAll('figure');
  var ok = 0;
  figs.forEach(function (f) {
    var img = f.querySelector('img');
    var cap = f.querySelector('figcaption');
    var good = img && img.complete && img.naturalWidth > 0 && cap &&
               cap.textContent.trim().length > 0;
    f.setAttribute('data-rendered', good ? 'yes' : 'no');
    if (good) { ok += 1; }
  });
  document.body.setAttribute('data-figures', String(figs.length));
  document.body.setAttribute('data-rendered', String(ok));
});
"""


def render_html(comparison: Comparison, figs: list[Figure], out: Path) -> str:
    e = html.escape
    s = comparison.scenario
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>mip4 compare: {e(s.name)}</title>",
        f"<style>{STYLE}</style></head>",
        "<body>",
        f"<h1>mip4 compare: {e(s.name)}</h1>",
        "<h2>Scenario</h2>",
        '<table class="scenario">',
    ]
    parts += [f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in _params_lines(comparison)]
    parts += ["</table>", "<h2>Results</h2>", '<table class="results"><tr>']
    parts += [f"<th>{e(c)}</th>" for c in TABLE_COLUMNS]
    parts.append("</tr>")
    for run, row in zip(comparison.runs, table_rows(comparison), strict=True):
        cls = ' class="featured"' if run.method in comparison.featured else ""
        cells = [f"<td>{e(row[0])}</td>"] + [f'<td class="num">{e(c)}</td>' for c in row[1:]]
        parts.append(f"<tr{cls}>{''.join(cells)}</tr>")
    parts += [
        "</table>",
        "<p>Times in milliseconds per handoff; lost and dup count packets of both "
        "directions over the whole run; signalling is counted on the air and on the wired "
        "core (messages and bytes sent).</p>",
        "<h2>How to read the figures</h2>",
        f'<p class="how-to-read">{e(HOW_TO_READ)}</p>',
        "<h2>Figures</h2>",
    ]
    for fig in figs:
        data = base64.b64encode(fig.svg).decode("ascii")
        parts += [
            f'<figure id="{e(fig.ident)}">',
            f'<img alt="{e(fig.caption)}" src="data:image/svg+xml;base64,{data}">',
            f"<figcaption>{e(fig.caption)}</figcaption>",
        ]
        if fig.mermaid is not None:
            parts += [
                "<details><summary>Mermaid source (from the trace)</summary>",
                f'<pre class="mermaid">{e(fig.mermaid)}</pre>',
                "</details>",
            ]
        parts.append("</figure>")
    parts += ["<h2>Files</h2>", "<ul>"]
    parts += [f'<li><a href="{e(f)}">{e(f)}</a></li>' for f in _files(comparison, out)]
    parts += ["</ul>", f"<script>{CHECK_SCRIPT}</script>", "</body></html>", ""]
    return "\n".join(parts)


def render_markdown(comparison: Comparison, figs: list[Figure], out: Path) -> str:
    s = comparison.scenario
    lines = [f"# mip4 compare: {s.name}", "", "## Scenario", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in _params_lines(comparison)]
    lines += ["", "## Results", ""]
    lines.append("| " + " | ".join(TABLE_COLUMNS) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(TABLE_COLUMNS) - 1)) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(comparison)]
    lines += ["", "## How to read the figures", "", HOW_TO_READ, "", "## Figures", ""]
    for fig in figs:
        lines += [f"![{fig.caption}]({fig.filename})", "", f"*{fig.caption}*", ""]
        if fig.mermaid is not None:
            lines += ["```mermaid", fig.mermaid.rstrip(), "```", ""]
    lines += ["## Files", ""]
    lines += [f"- [{f}]({f})" for f in _files(comparison, out)]
    return "\n".join(lines) + "\n"
