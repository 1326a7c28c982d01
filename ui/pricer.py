"""Pricer page helpers: the cached data set, plotly charts, the scoreboard views, runs kept in the session."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from lab.pricer import data as D
from lab.pricer import metrics as M

COLORS = {"green": "#2ca02c", "orange": "#ff7f0e", "red": "#d62728"}


@st.cache_resource(show_spinner="Curating products (tokenizing every description)...", max_entries=16)
def dataset(source: str, cfg_json: str, upload_name: str = "", upload: bytes = b"", category: str = "") -> D.Curated:
    """One curated data set per (source, configuration), shared by every session (items are read-only)."""
    cfg = D.DataConfig.model_validate_json(cfg_json)
    if source == "upload":
        return D.build(D.read_upload(upload_name, upload), cfg, source=f"upload {upload_name}")
    if source == "amazon":
        return D.build(D.load_amazon(category), cfg, source=f"amazon {category}")
    return D.offline(cfg)


def runs(key: str) -> dict:
    """This session's scored runs on the current test set: {name: {"preds", "result"}}; reset when the data change."""
    if st.session_state.get("pricer_data_key") != key:
        st.session_state["pricer_data_key"] = key
        st.session_state["pricer_runs"] = {}
    return st.session_state["pricer_runs"]


def add_run(key: str, name: str, preds: list, result: dict, record: bool = True) -> None:
    runs(key)[name] = {"preds": list(preds), "result": result}
    if record:
        M.record(name, result)


def data_view(ds: D.Curated) -> None:
    s = ds.stats()
    c = st.columns(5)
    c[0].metric("Items", s["items"])
    c[1].metric("Train / test", f"{s['train']} / {s['test']}")
    c[2].metric("Categories", s["categories"])
    c[3].metric("Mean price", f"${s['price']['mean']:,.2f}")
    c[4].metric("Rejected", s["rejected"])
    if ds.rejected:
        st.caption("Rejected: " + "; ".join(f"{k} ({v})" for k, v in ds.rejected.items()))
    df = ds.frame()
    left, right = st.columns(2)
    left.plotly_chart(px.histogram(df, x="price", nbins=40, title="Prices (US dollars)"), key="chart.prices")
    right.plotly_chart(px.histogram(df, x="tokens", nbins=30, title=f"Tokens per item ({ds.config.tokenizer})"),
                       key="chart.tokens")
    cats = df["category"].value_counts().rename_axis("category").reset_index(name="items")
    st.plotly_chart(px.bar(cats, x="items", y="category", orientation="h", title="Items per category"),
                    key="chart.cats")
    item = ds.train[0]
    st.markdown("**A training prompt** (the model learns to write the price) and the test prompt's ending:")
    st.code(item.prompt, language=None, wrap_lines=True)
    st.caption(f"Test prompt ends: …{item.test_prompt()[-30:]!r}")
    st.dataframe(df[["title", "category", "price", "tokens", "split"]], hide_index=True, height=240)


def score_table(rows: dict) -> None:
    table = [M.summary(n, r["result"]) | {"items": r["result"]["n"], "misses": r["result"]["misses"]}
             for n, r in rows.items()]
    st.dataframe(pd.DataFrame(table).sort_values("mae"), hide_index=True,
                 column_config={"hit_rate": st.column_config.ProgressColumn("hit rate", min_value=0, max_value=1)})


def scoreboard(ds: D.Curated, name: str, run: dict) -> None:
    """The course's Tester chart: truth vs guess coloured by hit, and the running average error."""
    r = run["result"]
    c = st.columns(4)
    c[0].metric("Mean abs. error", f"${r['mae']:,.2f}")
    c[1].metric("RMSLE", f"{r['rmsle']:.3f}")
    c[2].metric("Hit rate (green)", f"{r['hit_rate']:.0%}")
    c[3].metric("No number (misses)", r["misses"])
    items = ds.test[: len(run["preds"])]   # an LLM run may price only the first n test items
    truth = [i.price for i in items]
    df = pd.DataFrame({"title": [i.title for i in items], "truth": truth,
                       "guess": [0.0 if p is None else p for p in run["preds"]], "hit": r["colors"],
                       "item": range(1, len(truth) + 1), "running error": r["running_mae"]})
    top = max(df["truth"].max(), df["guess"].max())
    fig = px.scatter(df, x="truth", y="guess", color="hit", color_discrete_map=COLORS, hover_name="title",
                     title=f"{name}: guess vs truth ($)")
    fig.add_shape(type="line", x0=0, y0=0, x1=top, y1=top, line={"dash": "dot", "color": "grey"})
    st.plotly_chart(fig, key="chart.scatter")
    st.plotly_chart(px.line(df, x="item", y="running error", title="Running mean absolute error ($)"),
                    key="chart.running")


def leaderboard() -> None:
    rows = M.load_leaderboard()
    st.dataframe(pd.DataFrame(rows) if rows else pd.DataFrame(columns=["name", "mae", "rmsle", "hit_rate"]),
                 hide_index=True)
    st.caption("The course's reported errors, on **its** Amazon data (theirs, not measured here, and not comparable "
               "to this data set's prices): " + ", ".join(f"{k} ${v:.0f}" for k, v in M.COURSE_REFERENCE.items()))


def guesses_table(guesses, colors) -> None:
    st.dataframe(pd.DataFrame([{"title": g.item.title, "price": g.item.price, "reply": g.reply,
                                "guess": g.price, "hit": c} for g, c in zip(guesses, colors)]), hide_index=True)


def versus(rows: dict, truth: list[float], you: dict) -> None:
    """The learner against every model of this session, on the very same items."""
    k = len(truth)
    table = [{"who": "you", "mae": round(you["mae"], 2), "hit_rate": round(you["hit_rate"], 2)}]
    for name, r in rows.items():
        if len(r["preds"]) >= k:
            s = M.score(truth, r["preds"][:k])
            table.append({"who": name, "mae": round(s["mae"], 2), "hit_rate": round(s["hit_rate"], 2)})
    if len(table) > 1:
        st.dataframe(pd.DataFrame(table).sort_values("mae"), hide_index=True)
    else:
        st.caption("Train a baseline first to see how a model does on these same items.")
