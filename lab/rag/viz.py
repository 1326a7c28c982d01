"""See the vector space: 384 dimensions squeezed to 2 or 3 with PCA or t-SNE, coloured by doc_type.

PCA is a linear projection (fast, keeps the largest spreads, new points project exactly); t-SNE keeps each
point's *neighbours* close (slower, clusters show better, but it has no ``transform`` for new points, so the
query is fitted together with the chunks):

    >>> import numpy as np
    >>> v = np.random.default_rng(0).normal(size=(40, 384)).astype("float32")
    >>> xy, q = project(v, method="pca", dims=2, query=v[0])
    >>> xy.shape, q.shape, bool(np.allclose(xy[0], q, atol=1e-4))
    ((40, 2), (2,), True)

``figure()`` makes the plotly scatter: one colour per doc_type, the chunk's source and first words on hover,
the query as a black star.
"""

from __future__ import annotations

import textwrap

import numpy as np

from lab.core.errors import InputError


def project(
    vectors: np.ndarray, method: str = "pca", dims: int = 2, query: np.ndarray | None = None, seed: int = 42
) -> tuple[np.ndarray, np.ndarray | None]:
    """(points, query point) in ``dims`` dimensions."""
    if dims not in (2, 3):
        raise InputError("Plot in 2 or 3 dimensions.")
    vectors = np.asarray(vectors, dtype=np.float32)
    if len(vectors) <= dims:
        raise InputError(f"Need more than {dims} vectors to project; index some chunks first.")
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=dims, random_state=seed).fit(vectors)
        return pca.transform(vectors), (pca.transform(query[None, :])[0] if query is not None else None)
    if method == "tsne":
        from sklearn.manifold import TSNE
        from threadpoolctl import threadpool_limits

        data = vectors if query is None else np.vstack([vectors, query[None, :]])
        # perplexity ~ the number of neighbours each point cares about; it must stay below the number of points
        perplexity = float(min(30, max(2, (len(data) - 1) // 3)))
        # One OpenMP thread: on a shared, busy CPU sklearn's parallel Barnes-Hut spent 30 s spinning on 31 points
        # that one thread does in 0.3 s (a few hundred chunks take seconds either way).
        with threadpool_limits(limits=1, user_api="openmp"):
            out = TSNE(
                n_components=dims, perplexity=perplexity, init="pca", random_state=seed, metric="cosine"
            ).fit_transform(data)
        return (out, None) if query is None else (out[:-1], out[-1])
    raise InputError(f"Unknown projection {method!r}; use 'pca' or 'tsne'.")


def figure(
    points: np.ndarray,
    metadatas: list[dict],
    texts: list[str],
    query_point: np.ndarray | None = None,
    query: str = "",
    title: str = "",
):
    """A plotly scatter (2D or 3D by the points' shape): colour = doc_type, hover = source + the chunk's start."""
    import plotly.graph_objects as go

    dims = points.shape[1]
    fig = go.Figure()
    types = sorted({m.get("doc_type", "?") for m in metadatas})
    for t in types:
        idx = [i for i, m in enumerate(metadatas) if m.get("doc_type", "?") == t]
        hover = [
            f"<b>{metadatas[i].get('source', '')}</b><br>" + "<br>".join(textwrap.wrap(texts[i][:300], 70)) for i in idx
        ]
        coords = {"x": points[idx, 0], "y": points[idx, 1]}
        if dims == 3:
            fig.add_trace(
                go.Scatter3d(
                    **coords,
                    z=points[idx, 2],
                    mode="markers",
                    name=t,
                    text=hover,
                    hoverinfo="text",
                    marker={"size": 4, "opacity": 0.8},
                )
            )
        else:
            fig.add_trace(
                go.Scatter(
                    **coords, mode="markers", name=t, text=hover, hoverinfo="text", marker={"size": 7, "opacity": 0.8}
                )
            )
    if query_point is not None:
        label = f"query: {query[:80]}"
        if dims == 3:
            fig.add_trace(
                go.Scatter3d(
                    x=[query_point[0]],
                    y=[query_point[1]],
                    z=[query_point[2]],
                    mode="markers",
                    name="query",
                    text=[label],
                    hoverinfo="text",
                    marker={"size": 10, "color": "black", "symbol": "diamond"},
                )
            )
        else:
            fig.add_trace(
                go.Scatter(
                    x=[query_point[0]],
                    y=[query_point[1]],
                    mode="markers",
                    name="query",
                    text=[label],
                    hoverinfo="text",
                    marker={"size": 16, "color": "black", "symbol": "star"},
                )
            )
    fig.update_layout(title=title, height=600, legend_title_text="doc_type", margin={"l": 0, "r": 0, "t": 40, "b": 0})
    return fig
