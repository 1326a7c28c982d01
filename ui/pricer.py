"""Pricer page helpers: the cached data set, plotly charts, the scoreboard views, runs kept in the session,
and the bigger tabs (baselines with cross-validation, the network's live loss, LLM rewriting, ensembles)."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from lab.pricer import baselines, data, ensemble, llm, metrics, rewrite
from ui.widgets import explained, show_messages

COLORS = {"green": "#2ca02c", "orange": "#ff7f0e", "red": "#d62728"}


@st.cache_resource(show_spinner="Curating products (tokenizing every description)...", max_entries=16)
def dataset(source: str, cfg_json: str, upload_name: str = "", upload: bytes = b"", category: str = "") -> data.Curated:
    """One curated data set per (source, configuration), shared by every session (items are read-only)."""
    cfg = data.DataConfig.model_validate_json(cfg_json)
    if source == "upload":
        return data.build(data.read_upload(upload_name, upload), cfg, source=f"upload {upload_name}")
    if source == "amazon":
        return data.build(data.load_amazon(category), cfg, source=f"amazon {category}")
    if source == "course":  # category holds the data set id here (ed-donner/items_lite or items_full)
        return data.build(data.load_course_items(category or data.COURSE_DATASETS[0]), cfg, source=f"course {category}")
    return data.offline(cfg)


def runs(key: str) -> dict:
    """This session's scored runs on the current test set: {name: {"preds", "result"}}; reset when the data change."""
    if st.session_state.get("pricer_data_key") != key:
        st.session_state["pricer_data_key"] = key
        st.session_state["pricer_runs"] = {}
    return st.session_state["pricer_runs"]


def add_run(key: str, name: str, preds: list, result: dict, record: bool = True, on: str = "test") -> None:
    """``on``: which items the predictions are for: 'test' (the test split, in order) or 'cv' (every item)."""
    runs(key)[name] = {"preds": list(preds), "result": result, "on": on}
    if record:
        metrics.record(name, result)


def items_of(ds: data.Curated, run: dict) -> list:
    return ds.items if run.get("on") == "cv" else ds.test[: len(run["preds"])]


def data_view(ds: data.Curated) -> None:
    s = ds.stats()
    c = st.columns(5)
    c[0].metric("Items", s["items"])
    c[1].metric("Train / test", f"{s['train']} / {s['test']}")
    c[2].metric("Categories", s["categories"])
    c[3].metric("Mean price", f"${s['price']['mean']:,.2f}")
    c[4].metric("Rejected", s["rejected"])
    if ds.rejected:
        st.caption("Rejected: " + "; ".join(f"{k} ({v})" for k, v in ds.rejected.items()))
    if ds.problems:
        st.warning(
            f"{len(ds.problems)} row(s) were dropped because their price was refused (never guessed):\n\n"
            + "\n".join(f"- {line}" for line in ds.problem_lines(10))
        )
    df = ds.frame()
    left, right = st.columns(2)
    left.plotly_chart(px.histogram(df, x="price", nbins=40, title="Prices (US dollars)"), key="chart.prices")
    right.plotly_chart(
        px.histogram(df, x="tokens", nbins=30, title=f"Tokens per item ({ds.config.tokenizer})"), key="chart.tokens"
    )
    cats = df["category"].value_counts().rename_axis("category").reset_index(name="items")
    st.plotly_chart(
        px.bar(cats, x="items", y="category", orientation="h", title="Items per category"), key="chart.cats"
    )
    item = ds.train[0]
    st.markdown("**A training prompt** (the model learns to write the price) and the test prompt's ending:")
    st.code(item.prompt, language=None, wrap_lines=True)
    st.caption(f"Test prompt ends: …{item.test_prompt()[-30:]!r}")
    st.dataframe(df[["title", "category", "price", "tokens", "split"]], hide_index=True, height=240)


def score_table(rows: dict) -> None:
    table = []
    for n, r in rows.items():
        res = r["result"]
        ci = res.get("mae_ci") or metrics.bootstrap_ci(res["errors"])
        table.append(
            metrics.summary(n, res)
            | {
                "MAE 95% CI": f"${ci[0]:,.0f} - ${ci[1]:,.0f}",
                "items": res["n"],
                "scored on": "all items (k-fold)" if r.get("on") == "cv" else "test split",
                "misses": res["misses"],
            }
        )
    df = pd.DataFrame(table).sort_values("mae").drop(columns=["mae_ci"], errors="ignore")
    st.dataframe(
        df,
        hide_index=True,
        column_config={"hit_rate": st.column_config.ProgressColumn("hit rate", min_value=0, max_value=1)},
    )


def ci_chart(rows: dict) -> None:
    """Every model's MAE with its 95% interval, and the course's Amazon figures beside them (labelled theirs)."""
    ours = []
    for n, r in rows.items():
        ci = r["result"].get("mae_ci") or metrics.bootstrap_ci(r["result"]["errors"])
        ours.append((n, r["result"]["mae"], ci))
    ours.sort(key=lambda x: x[1])
    fig = go.Figure(
        go.Bar(
            name="ours (this data, 95% CI)",
            x=[o[0] for o in ours],
            y=[o[1] for o in ours],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [o[2][1] - o[1] for o in ours],
                "arrayminus": [o[1] - o[2][0] for o in ours],
            },
            marker_color="#1f77b4",
        )
    )
    theirs = sorted(metrics.COURSE_REFERENCE.items(), key=lambda kv: kv[1])
    fig.add_trace(
        go.Bar(
            name="the course's, on its Amazon data (theirs)",
            x=[k for k, _ in theirs],
            y=[v for _, v in theirs],
            marker_color="#bbbbbb",
        )
    )
    fig.update_layout(
        title="Mean absolute error ($): ours with 95% bootstrap intervals; the course's reported "
        "figures in grey (another data set: not comparable item for item)",
        xaxis_tickangle=-40,
    )
    st.plotly_chart(fig, key="chart.ci")


def error_breakdown(ds: data.Curated, name: str, run: dict) -> None:
    """Where the error lands: by true price band and by category."""
    items = items_of(ds, run)
    truth = [i.price for i in items]
    left, right = st.columns(2)
    bands = pd.DataFrame(metrics.error_by(truth, run["preds"], [metrics.band_of(t) for t in truth]))
    order = [metrics.band_of(b) for b in metrics.BANDS[:-1]]
    bands["order"] = bands["group"].map(order.index)
    left.plotly_chart(
        px.bar(
            bands.sort_values("order"),
            x="group",
            y="mae",
            hover_data=["items"],
            title=f"{name}: MAE by price band ($)",
            labels={"group": "true price"},
        ),
        key="chart.bands",
    )
    by_category = metrics.error_by(truth, run["preds"], [i.category or "none" for i in items])
    cats = pd.DataFrame(by_category).sort_values("mae")
    right.plotly_chart(
        px.bar(
            cats,
            x="mae",
            y="group",
            orientation="h",
            hover_data=["items"],
            title=f"{name}: MAE by category ($)",
            labels={"group": "category"},
        ),
        key="chart.categories",
    )


def scoreboard(ds: data.Curated, name: str, run: dict) -> None:
    """The course's Tester chart: truth vs guess coloured by hit, and the running average error."""
    r = run["result"]
    ci = r.get("mae_ci") or metrics.bootstrap_ci(r["errors"])
    c = st.columns(4)
    c[0].metric(
        "Mean abs. error",
        f"${r['mae']:,.2f}",
        help=f"95% bootstrap interval ${ci[0]:,.2f} - ${ci[1]:,.2f} over {r['n']} items",
    )
    c[1].metric("RMSLE", f"{r['rmsle']:.3f}")
    c[2].metric("Hit rate (green)", f"{r['hit_rate']:.0%}")
    c[3].metric("No number (misses)", r["misses"])
    items = items_of(ds, run)  # an LLM run may price only the first n test items; a k-fold run prices all
    truth = [i.price for i in items]
    df = pd.DataFrame(
        {
            "title": [i.title for i in items],
            "truth": truth,
            "guess": [0.0 if p is None else p for p in run["preds"]],
            "hit": r["colors"],
            "item": range(1, len(truth) + 1),
            "running error": r["running_mae"],
        }
    )
    top = max(df["truth"].max(), df["guess"].max())
    fig = px.scatter(
        df,
        x="truth",
        y="guess",
        color="hit",
        color_discrete_map=COLORS,
        hover_name="title",
        title=f"{name}: guess vs truth ($)",
    )
    fig.add_shape(type="line", x0=0, y0=0, x1=top, y1=top, line={"dash": "dot", "color": "grey"})
    st.plotly_chart(fig, key="chart.scatter")
    st.plotly_chart(
        px.line(df, x="item", y="running error", title="Running mean absolute error ($)"), key="chart.running"
    )


def leaderboard() -> None:
    rows = metrics.load_leaderboard()
    st.dataframe(
        pd.DataFrame(rows) if rows else pd.DataFrame(columns=["name", "mae", "rmsle", "hit_rate"]), hide_index=True
    )
    st.caption(
        "The course's reported errors, on **its** Amazon data (theirs, not measured here, and not comparable "
        "to this data set's prices): " + ", ".join(f"{k} ${v:.0f}" for k, v in metrics.COURSE_REFERENCE.items())
    )


# ---------------------------------------------------------------------------------------------- tabs
def baselines_tab(ds: data.Curated, key: str, seed: int) -> None:
    names = st.multiselect("Baselines", baselines.NAMES, default=baselines.NAMES[:4], key="pricer.baselines")
    how = st.radio(
        "Score on",
        ["all items (k-fold)", "test split"],
        horizontal=True,
        key="pricer.eval",
        help=f"k-fold: each of the {len(ds.items)} items is priced by a model trained on the other "
        f"folds ({ds.config.cv_folds} folds): {len(ds.items)} test items instead of {len(ds.test)}, "
        "so the error bars are about half as wide. Test split: the course's way.",
    )
    if st.button("Train and score", type="primary", key="pricer.train") and names:
        cv = how.startswith("all")
        bar = st.progress(0.0)
        with explained(), st.spinner("Training (MiniLM models embed every item once)..."):
            if cv:
                out = baselines.cross_validate(
                    ds,
                    names,
                    seed=seed,
                    folds=ds.config.cv_folds,
                    on_model=lambda i, n: bar.progress(i / len(names), f"cross-validating {n}"),
                )
            else:
                out = baselines.run_baselines(ds, names, seed=seed)
            for r in out:
                add_run(key, r.name + (" (k-fold)" if cv else ""), r.preds, r.result, on="cv" if cv else "test")
        bar.empty()
    if runs(key):
        score_table(runs(key))
    st.caption(
        f"Trained models are saved with joblib under {baselines.model_path('x').parent} and reload with "
        "`lab.pricer.baselines.load(name)` (after k-fold, the saved model is fitted on every item)."
    )


def network_tab(ds: data.Curated, key: str, seed: int) -> None:
    from lab.pricer.network import ResidualNetPricer

    st.markdown(
        "The course's residual network (week 6 day 4): 5,000 hashed word features, residual blocks of "
        "Linear-LayerNorm-ReLU-Dropout-Linear-LayerNorm with a skip, log-price target, L1 loss, AdamW, "
        "cosine schedule. Here 8 layers x 128 units, so it trains on one CPU core in under a minute, not on a GPU "
        "for hours (it stops at 2 minutes whatever the settings)."
    )
    c = st.columns(3)
    epochs = c[0].slider("Epochs", 5, 100, 40, key="pricer.nn_epochs")
    hidden = c[1].select_slider("Hidden units", [64, 128, 256, 512], 128, key="pricer.nn_hidden")
    layers = c[2].slider("Layers", 2, 12, 8, key="pricer.nn_layers")
    if st.button("Train the network", type="primary", key="pricer.nn"):
        net = ResidualNetPricer(epochs=epochs, hidden=hidden, layers=layers, seed=seed)
        chart, status = st.empty(), st.empty()
        losses = []
        with explained():
            for step in net.fit_steps(baselines.table(ds.train), [i.price for i in ds.train]):
                losses.append(step)
                chart.plotly_chart(
                    px.line(
                        pd.DataFrame(losses),
                        x="epoch",
                        y="loss",
                        markers=True,
                        title="Training loss (L1 on standardised log price), live",
                    ),
                    key=f"chart.nn{len(losses)}",
                )
                status.caption(
                    f"epoch {step['epoch']}/{step['epochs']}, {step['seconds']:.1f} s"
                    + (" - stopped: time budget" if step.get("stopped") else "")
                )
            preds = baselines.predict(net, ds.test)
            res = metrics.with_ci(metrics.score([i.price for i in ds.test], preds), seed)
            add_run(key, f"residual network {layers}x{hidden}", preds, res)
            st.success(
                f"{net.n_weights():,} weights, {losses[-1]['seconds']:.1f} s: test MAE ${res['mae']:,.2f} "
                f"(95% CI ${res['mae_ci'][0]:,.2f} - ${res['mae_ci'][1]:,.2f})"
            )


def rewrite_tab(ds: data.Curated, key: str, seed: int, choice) -> None:
    st.markdown(
        "The course's week 6 day 2: ask an LLM to rewrite each description as five regular lines "
        "(title, category, brand, description, details), then train on those. Replies are cached on disk."
    )
    n = st.slider("Items to rewrite (the first N curated)", 1, len(ds.items), min(10, len(ds.items)), key="pricer.rw_n")
    items = ds.items[:n]
    texts = [rewrite.raw_text(i) for i in items]
    show_messages(rewrite.messages_for(texts[0]), label="Messages for the first item")
    provider, model = choice.build(), choice.model_arg
    est = rewrite.estimate(provider, model, texts)
    cost = (
        "n/a (model not in the price table)"
        if est["cost_usd"] is None
        else f"${est['cost_usd']:.4f} (at most ${est['cost_usd_max']:.4f})"
    )
    st.info(
        f"{est['model']}: {est['to_rewrite']} to rewrite, {est['cached']} cached; ~{est['input_tokens']:,} input "
        f"and ~{est['output_tokens_expected']:,} output tokens; estimated cost {cost}."
    )
    names = st.multiselect(
        "Compare on raw vs rewritten text", baselines.NAMES, default=["TF-IDF + ridge"], key="pricer.rw_cmp"
    )
    if st.button("Rewrite and compare", type="primary", key="pricer.rw"):
        bar = st.progress(0.0)
        with explained():
            summaries = rewrite.rewrite(provider, texts, model, on_batch=lambda d, t: bar.progress(d / t, f"{d}/{t}"))
            st.dataframe(
                pd.DataFrame({"title": [i.title for i in items], "raw": texts, "rewritten": summaries}),
                hide_index=True,
                height=240,
            )
            if names and n >= 2 * ds.config.cv_folds:
                rows = rewrite.compare(items, summaries, names, seed=seed, folds=ds.config.cv_folds)
                st.dataframe(pd.DataFrame(rows), hide_index=True)
            elif names:
                st.caption(f"Comparing needs at least {2 * ds.config.cv_folds} items ({ds.config.cv_folds} folds).")


def ensemble_tab(ds: data.Curated, key: str, seed: int) -> None:
    picked = st.multiselect(
        "Combine", baselines.NAMES[2:], default=["bag of words + LR", "MiniLM + SVR"], key="pricer.ens"
    )
    st.caption(
        "A linear regression over the models' guesses plus their min and max, fitted on out-of-fold "
        "guesses for the training items (5 folds), then scored on the test items."
    )
    if st.button("Fit the ensemble", type="primary", key="pricer.ensemble"):
        with explained():
            with st.spinner("Cross-validating each model..."):
                ens, preds, result = ensemble.from_baselines(ds, picked, seed=seed)
            add_run(key, "ensemble of " + ", ".join(picked), preds, metrics.with_ci(result, seed))
            st.dataframe([{"input": k, "weight": round(v, 4)} for k, v in ens.weights().items()], hide_index=True)
    for extra in ensemble.extra_ensembles():  # other labs' ensembles (the Agents lab's specialist + frontier + forest)
        st.markdown(f"**{extra.name}** - {extra.description}")
        if st.button(f"Run {extra.name}", key=f"pricer.extra.{extra.name}"):
            with explained(), st.spinner(f"Running {extra.name}..."):
                preds, notes = extra.run(ds)
                result = metrics.with_ci(metrics.score([i.price for i in ds.test[: len(preds)]], preds), seed)
                add_run(key, extra.name, preds, result)
                if notes:
                    st.json(notes)


def llm_tab(ds: data.Curated, key: str, choice) -> None:
    """The LLM pricer: the chosen model prices the first N test items, optionally with similar items (RAG)."""
    n = st.slider("Test items to price", 1, len(ds.test), min(10, len(ds.test)), key="pricer.llm_n")
    rag = st.checkbox("RAG: show the model the 5 most similar training items with their prices", key="pricer.rag")
    if choice.provider == "local":
        st.caption("SmolLM2-135M is tiny: expect copied or missing numbers. A frontier model needs a key.")
    show_messages(
        llm.messages_for(ds.test[0], ds.train[:2] if rag else None),
        label="Messages for the first item (RAG shots shown as placeholders)" if rag else "Messages for the first item",
    )
    if st.button("Price them", type="primary", key="pricer.llm"):
        bar = st.progress(0.0)
        with explained():
            similar = llm.SimilarItems(ds.train) if rag else None
            run = llm.price_items(
                choice.build(),
                ds.test[:n],
                model=choice.model_arg,
                similar=similar,
                on_guess=lambda i, g: bar.progress((i + 1) / n, f"{i + 1}/{n}: {g.reply[:40]!r}"),
            )
            st.session_state["pricer_llm"] = run
            add_run(key, f"{run.name} (first {n})", run.preds, run.result)
    if "pricer_llm" in st.session_state:
        run = st.session_state["pricer_llm"]
        st.markdown(
            f"**{run.name}**: MAE ${run.result['mae']:,.2f}, hit rate {run.result['hit_rate']:.0%}, "
            f"{run.result['misses']} replies without a number (counted as misses)."
        )
        guesses_table(run.guesses, run.result["colors"])


def scoreboard_tab(ds: data.Curated, rows: dict) -> None:
    """This session's runs side by side, one run's charts, and the leaderboard kept across sessions."""
    if rows:
        score_table(rows)
        ci_chart(rows)
        name = st.selectbox("Chart", list(rows), key="pricer.chart")
        scoreboard(ds, name, rows[name])
        error_breakdown(ds, name, rows[name])
    else:
        st.info("Train a baseline, run the LLM pricer or fit an ensemble: their scoreboards appear here.")
    st.subheader("Leaderboard (every run so far, kept across sessions)")
    leaderboard()


def beat_tab(ds: data.Curated, rows: dict) -> None:
    """The learner prices a few test items and is scored against every model of this session."""
    truth = [i.price for i in ds.test]
    k = st.number_input(
        "How many items will you price?", 1, min(20, len(ds.test)), min(5, len(ds.test)), key="pricer.k"
    )
    with st.form("pricer.beat"):
        guesses = [
            st.number_input(f"{i.title} — {i.text.splitlines()[-1][:160]}", 0.0, 100_000.0, 0.0, key=f"pricer.guess{j}")
            for j, i in enumerate(ds.test[:k])
        ]
        who = st.text_input("Your name for the leaderboard", key="pricer.who")
        sent = st.form_submit_button("Score me", type="primary")
    if sent:
        with explained():
            you = metrics.score(truth[:k], [g if g > 0 else None for g in guesses])
            row = metrics.record(f"you: {who}", you, kind="human")
            st.success(
                f"{row['name']}: MAE ${you['mae']:,.2f}, hit rate {you['hit_rate']:.0%} "
                f"({' '.join({'green': '🟢', 'orange': '🟠', 'red': '🔴'}[c] for c in you['colors'])})"
            )
            st.caption("True prices: " + ", ".join(f"${t:,.2f}" for t in truth[:k]))
            versus(rows, truth[:k], you)


def guesses_table(guesses, colors) -> None:
    st.dataframe(
        pd.DataFrame(
            [
                {"title": g.item.title, "price": g.item.price, "reply": g.reply, "guess": g.price, "hit": c}
                for g, c in zip(guesses, colors)
            ]
        ),
        hide_index=True,
    )


def versus(rows: dict, truth: list[float], you: dict) -> None:
    """The learner against every model of this session, on the very same items."""
    k = len(truth)
    table = [{"who": "you", "mae": round(you["mae"], 2), "hit_rate": round(you["hit_rate"], 2)}]
    for name, r in rows.items():
        if len(r["preds"]) >= k:
            s = metrics.score(truth, r["preds"][:k])
            table.append({"who": name, "mae": round(s["mae"], 2), "hit_rate": round(s["hit_rate"], 2)})
    if len(table) > 1:
        st.dataframe(pd.DataFrame(table).sort_values("mae"), hide_index=True)
    else:
        st.caption("Train a baseline first to see how a model does on these same items.")
