"""Message sequence charts from the trace: Mermaid text, and the same chart drawn as SVG.

Both read the :class:`~mip4.experiments.focus.Event` list of one handoff, so they show the
messages the agents really exchanged (each arrow is a transmission paired with its
reception), the L2 triggers and the data-plane changes, with the time of each row relative to
L2-LD. The drawn SVG needs no script and no network: it is what the HTML report shows when
Mermaid is not loaded.
"""

from __future__ import annotations

import re

from mip4.experiments.focus import Event, Window

ROLE = {"source": "oFA", "target": "nFA"}
_UNSAFE = re.compile(r"[^A-Za-z0-9 _.,+\-()/>=]")


def short_name(message: str) -> str:
    """The names RFC 4881's figures use, where there is one (``handoff_request_s`` is the
    HRqst of a source-triggered handoff: ``HRqst(s)``)."""
    for prefix, name in (("handoff_request_", "HRqst"), ("handoff_reply_", "HRply")):
        if message.startswith(prefix):
            return f"{name}({message[len(prefix) :]})"
    return {
        "agent_advertisement": "Agent Adv",
        "agent_solicitation": "Agent Sol",
        "registration_request": "RegRqst",
        "registration_reply": "RegRply",
        "regional_registration_request": "Regional RegRqst",
        "regional_registration_reply": "Regional RegRply",
        "handoff_request": "HRqst",
        "handoff_reply": "HRply",
        "handoff_to_third": "HTT",
        "proxy_router_solicitation": "PrRtSol",
        "proxy_router_advertisement": "PrRtAdv",
        "inter_fa_solicitation": "Inter-FA Sol",
        "inter_fa_advertisement": "Inter-FA Adv",
        "tunnelled_agent_advertisement": "tunnelled Agent Adv",
    }.get(message, message.replace("_", " "))


def event_text(event: Event) -> str:
    """A row's text: the message's short name and its detail (``HRqst(r) lifetime 0``)."""
    name = short_name(event.label)
    return f"{name} {event.detail}" if event.detail else name


def labels(window: Window, names: list[str]) -> dict[str, str]:
    """Participant labels: the node name with its role in this handoff."""
    out = {}
    for name in names:
        role = ""
        if name == window.source:
            role = " (oFA)"
        elif name == window.target:
            role = " (nFA)"
        elif name in window.extra_fas:
            role = " (third FA)"
        out[name] = name + role
    return out


def relative_ms(time: float, window: Window) -> str:
    return f"{(time - window.l2_ld) * 1000.0:+.1f} ms"


def mermaid(window: Window, names: list[str], events: list[Event], *, title: str = "") -> str:
    """A Mermaid ``sequenceDiagram`` of ``events``."""
    lines = ["sequenceDiagram"]
    if title:
        lines.append(f"    title {_clean(title)}")
    for name, label in labels(window, names).items():
        lines.append(f"    participant {name} as {_clean(label)}")
    for event in events:
        when = relative_ms(event.time, window)
        text = _clean(event_text(event))
        if event.kind == "message":
            arrow = "->>" if event.medium != "air" else "-)"
            lines.append(f"    {event.source}{arrow}{event.target}: {when} {text}")
        else:
            lines.append(f"    Note over {event.source}: {when} {text}")
    return "\n".join(lines) + "\n"


def _clean(text: str) -> str:
    return _UNSAFE.sub(" ", text).strip()


def draw(
    window: Window,
    names: list[str],
    events: list[Event],
    *,
    title: str = "",
    max_rows: int = 80,
) -> bytes:
    """The chart drawn with matplotlib, as SVG bytes (one row per event, time at the left)."""
    from mip4.experiments.plots import figure_bytes, pyplot

    plt = pyplot()
    shown = events[:max_rows]
    rows = max(1, len(shown))
    width = max(6.5, 1.7 * len(names) + 1.5)
    fig, ax = plt.subplots(figsize=(width, 1.0 + 0.28 * (rows + 2)))
    xs = {name: float(i) for i, name in enumerate(names)}
    top, bottom = 0.0, -(rows + 1.0)
    for name, label in labels(window, names).items():
        x = xs[name]
        ax.plot([x, x], [top, bottom], color="#888888", linewidth=0.8, zorder=1)
        ax.text(
            x,
            top + 0.3,
            label,
            ha="center",
            va="bottom",
            fontsize=9,
            fontweight="bold",
            bbox={"boxstyle": "round,pad=0.3", "fc": "#eef3fb", "ec": "#4a6fa5"},
        )
    for i, event in enumerate(shown):
        y = -(i + 1.0)
        ax.text(-0.75, y, relative_ms(event.time, window), ha="right", va="center", fontsize=7)
        text = event_text(event)
        if event.kind == "message":
            x0, x1 = xs[event.source], xs[event.target]
            color = "#c0392b" if event.medium == "air" else "#1f4e79"
            ax.annotate(
                "",
                xy=(x1, y),
                xytext=(x0, y),
                arrowprops={"arrowstyle": "->", "color": color, "linewidth": 1.1},
                zorder=2,
            )
            ax.text((x0 + x1) / 2, y + 0.08, text, ha="center", va="bottom", fontsize=7.5)
        else:
            l2 = event.label.startswith("L2-")
            ax.text(
                xs[event.source],
                y,
                text,
                ha="center",
                va="center",
                fontsize=7,
                zorder=3,
                bbox={
                    "boxstyle": "round,pad=0.2",
                    "fc": "#fff2cc" if l2 else "#e8f5e9",
                    "ec": "#b7950b" if l2 else "#2e7d32",
                    "linewidth": 0.6,
                },
            )
    if len(events) > max_rows:
        ax.text(0, bottom, f"... {len(events) - max_rows} more rows", fontsize=7, va="top")
    ax.set_xlim(-1.6, len(names) - 0.4)
    ax.set_ylim(bottom - 0.5, top + 1.2)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10, loc="left")
    fig.tight_layout()
    return figure_bytes(fig, "svg")
