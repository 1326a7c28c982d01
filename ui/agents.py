"""Widgets of the Agents page: the live coloured log, the opportunities table, memory, inbox, the products map.

Logic lives in ``lab.agents``; this module only reads widgets' values, calls it, and draws what comes back.
Each browser session keeps its memory and inbox in its own folder (``<data_dir>/sessions/<id>/agents``).
"""

from __future__ import annotations

import html
import time
from datetime import timedelta

import pandas as pd
import streamlit as st

from lab.agents import cycle
from lab.agents.framework import LogLine
from ui.session import session_dir
from ui.widgets import ProviderChoice, explained

LOG_STYLE = (
    "height: 360px; overflow-y: auto; background-color: #222229; padding: 10px; border-radius: 6px; "
    "font-family: monospace; font-size: 0.85em"
)


def folder():
    return session_dir("agents")


def log_html(lines: list[LogLine]) -> str:
    """The course's log panel: each line in its agent's colour on a dark background, newest at the bottom."""
    rows = "<br>".join(
        f'<span style="color: {ln.hex}">{time.strftime("%H:%M:%S", time.localtime(ln.t))} '
        f"[{html.escape(ln.agent)}] {html.escape(ln.message)}</span>"
        for ln in lines[-200:]
    )
    return f'<div style="{LOG_STYLE}">{rows}</div>'


def run_one(choice: ProviderChoice, plan: str, specialist: str, threshold: float, spot) -> cycle.CycleResult | None:
    """One cycle with its log drawn live into ``spot``; the result is kept for the tables below."""
    lines: list[LogLine] = []

    def listener(line: LogLine) -> None:
        lines.append(line)
        spot.html(log_html(lines))

    with explained():
        result = cycle.run_cycle(
            plan,
            choice.build(),
            model=choice.model_arg,
            folder=folder(),
            listener=listener,
            specialist=specialist,
            threshold=threshold,
        )
        st.session_state["agents.last"] = result
        st.session_state["agents.last_run"] = time.time()
        return result
    return None


def auto_runner(minutes: int, run) -> None:
    """Run a cycle every ``minutes`` while this page stays open (a fragment re-runs on its own timer; it draws
    its own log and table, since a fragment may only write inside itself). ``run(spot)`` runs one cycle."""

    @st.fragment(run_every=timedelta(minutes=minutes))
    def tick() -> None:
        last = st.session_state.get("agents.last_run", 0.0)
        due = last + minutes * 60 - time.time()
        if due > 0:
            st.caption(f"Next automatic cycle in about {due / 60:.0f} min (while this page stays open).")
            result = st.session_state.get("agents.last")
            if result is not None:
                st.html(log_html(result.log))
        else:
            result = run(st.empty())
        if result is not None:
            opportunities(result)

    tick()


def opportunities(result: cycle.CycleResult) -> None:
    if not result.opportunities:
        st.info(
            "No new deals this time: every deal in the feeds was surfaced before (see Memory) or none had a clear price."
        )
        return
    rows = [
        {
            "deal": o["title"],
            "price": o["price"],
            "estimate": o["estimate"],
            "discount": o["discount"],
            **{f"{k} guess": v for k, v in o["members"].items()},
            "picked by": o["source"],
            "url": o["url"],
        }
        for o in result.opportunities
    ]
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        column_config={
            "url": st.column_config.LinkColumn("url"),
            "price": st.column_config.NumberColumn(format="$%.2f"),
            "estimate": st.column_config.NumberColumn(format="$%.2f"),
            "discount": st.column_config.NumberColumn(format="$%.2f"),
        },
    )
    c1, c2 = st.columns(2)
    c1.markdown("**Who priced** (never a stand-in: the label says which model answered)")
    c1.dataframe(
        pd.DataFrame(
            [
                {"member": k, "model": v, "seconds": result.seconds.get("members", {}).get(k)}
                for k, v in result.members.items()
            ]
        ),
        hide_index=True,
    )
    c2.markdown("**Ensemble weights** (linear regression over the guesses + min + max, fitted on 60 held-out items)")
    c2.dataframe(
        pd.DataFrame([{"input": k, "weight": round(v, 4)} for k, v in result.weights.items()]), hide_index=True
    )
    for n in result.notified:
        st.success(f"Notified ({', '.join(n['channels'])}): {n['text']}")
    st.caption(
        f"Cycle: {result.seconds.get('total', 0):.1f} s ("
        + ", ".join(
            f"{k} {result.seconds[k]:.1f} s" for k in ("setup", "scan", "price", "notify") if k in result.seconds
        )
        + "). "
        f"Scan: {result.scan.get('entries', 0)} entries, {result.scan.get('distinct', 0)} distinct deals, "
        f"{result.scan.get('new', 0)} new, {result.scan.get('priced', 0)} stating a price, "
        f"{result.scan.get('shown_to_model', 0)} read by the model; dropped: {len(result.scan.get('dropped', []))}."
    )


def memory_panel() -> None:
    memory = cycle.memory_for(folder())
    rows = memory.load()
    st.caption(f"{len(rows)} deal(s) surfaced in this session; none of them will be surfaced again.")
    if not rows:
        return
    st.dataframe(
        pd.DataFrame([{k: r.get(k) for k in ("when", "title", "price", "estimate", "discount", "url")} for r in rows]),
        hide_index=True,
    )
    c1, c2, c3 = st.columns([3, 1, 1])
    url = c1.selectbox(
        "Deal",
        [r["url"] for r in rows],
        format_func=lambda u: next(r["title"] for r in rows if r["url"] == u)[:80],
        key="agents.forget_url",
        label_visibility="collapsed",
    )
    if c2.button("Forget it", key="agents.forget"):
        memory.forget(url)
        st.rerun()
    if c3.button("Clear all", key="agents.clear"):
        memory.clear()
        st.rerun()


def inbox_panel() -> None:
    from lab.agents.messenger import channels

    rows = cycle.inbox_for(folder()).load()
    chans = channels()
    st.caption(
        "Every notification lands here; "
        + (
            f"also pushed via {', '.join(chans)}."
            if chans
            else "set NTFY_TOPIC (ntfy) or PUSHOVER_USER + PUSHOVER_TOKEN to push them to a phone too."
        )
    )
    for r in reversed(rows[-50:]):
        st.markdown(f"**{r['when']}** - {r['text']}")


def products_map(dims: int) -> None:
    """The products vector store (PCA) coloured by category, with the last scan's deals placed in it."""
    import plotly.graph_objects as go

    from lab.agents.products import projection, ready_store

    last = st.session_state.get("agents.last")
    deals = [(o["title"], o["description"]) for o in (last.opportunities if last else [])]
    with explained():
        with st.spinner("Opening the products store (built once from the Pricer's data: MiniLM embeds ~220 items)..."):
            store = ready_store()
        pts, metas, docs, deal_pts, labels = projection(store, deals, dims=dims)
        fig = go.Figure()
        for cat in sorted({m.get("category", "none") for m in metas}):
            idx = [i for i, m in enumerate(metas) if m.get("category", "none") == cat]
            hover = [f"${metas[i]['price']:,.2f} {html.escape(metas[i].get('title', '')[:70])}" for i in idx]
            xyz = {"x": pts[idx, 0], "y": pts[idx, 1], **({"z": pts[idx, 2]} if dims == 3 else {})}
            trace = go.Scatter3d if dims == 3 else go.Scatter
            fig.add_trace(
                trace(
                    **xyz,
                    mode="markers",
                    name=cat,
                    text=hover,
                    hoverinfo="text",
                    marker={"size": 3 if dims == 3 else 6, "opacity": 0.7},
                )
            )
        if len(deal_pts):
            xyz = {"x": deal_pts[:, 0], "y": deal_pts[:, 1], **({"z": deal_pts[:, 2]} if dims == 3 else {})}
            trace = go.Scatter3d if dims == 3 else go.Scatter
            fig.add_trace(
                trace(
                    **xyz,
                    mode="markers",
                    name="scanned deals",
                    text=labels,
                    hoverinfo="text",
                    marker={"size": 8 if dims == 3 else 14, "color": "black", "symbol": "diamond"},
                )
            )
        fig.update_layout(height=600, margin={"l": 0, "r": 0, "t": 30, "b": 0}, legend_title_text="category")
        st.plotly_chart(fig, use_container_width=True)
        st.caption(
            f"{len(pts)} products (the Pricer's data, MiniLM vectors in a raw chromadb collection), PCA to "
            f"{dims}D; black diamonds: the deals of this session's last cycle."
        )
