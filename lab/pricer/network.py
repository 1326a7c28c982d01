"""The course's deep residual network (week 6 day 4), sized for a laptop CPU, with its loss as an iterator.

Same recipe as the course's ``DeepNeuralNetworkRunner``: words hashed into 5,000 binary features
(``HashingVectorizer``), a first layer, residual blocks (Linear, LayerNorm, ReLU, Dropout, Linear, LayerNorm,
plus the skip), a linear output; the target is log(1 + price), standardised; L1 loss, AdamW (weight decay
0.01), cosine learning rate, gradient clipping at 1.0. What differs is the size: the course runs 10 layers of
4,096 units (~300M weights) on a GPU over 800k items; here 8 layers of 128 units (0.84M weights, most of them
in the first layer: 5,000 x 128) train on a few hundred items in under a minute on one CPU core.

    >>> net = ResidualNetPricer(epochs=2)
    >>> for step in net.fit_steps(table(items), prices):       # doctest: +SKIP
    ...     print(step)                                       # one dict per epoch: watch the loss fall live
    {'epoch': 1, 'epochs': 2, 'loss': 0.81, 'seconds': 0.4}
    {'epoch': 2, 'epochs': 2, 'loss': 0.62, 'seconds': 0.8}

``fit`` just drains ``fit_steps``; so a page can draw the loss while training, and scikit-learn (cross
validation, joblib) sees an ordinary regressor.
"""

from __future__ import annotations

import time
from typing import Iterator

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin


def _build(input_size: int, layers: int, hidden: int, dropout: float):
    import torch.nn as nn

    class ResidualBlock(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block = nn.Sequential(
                nn.Linear(hidden, hidden),
                nn.LayerNorm(hidden),
                nn.ReLU(),
                nn.Dropout(dropout),
                nn.Linear(hidden, hidden),
                nn.LayerNorm(hidden),
            )
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.relu(self.block(x) + x)  # the skip connection

    class DeepNeuralNetwork(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.input_layer = nn.Sequential(
                nn.Linear(input_size, hidden), nn.LayerNorm(hidden), nn.ReLU(), nn.Dropout(dropout)
            )
            # the course counts the input and output layers among num_layers: 10 layers = 8 residual blocks
            self.blocks = nn.ModuleList([ResidualBlock() for _ in range(max(0, layers - 2))])
            self.output_layer = nn.Linear(hidden, 1)

        def forward(self, x):
            x = self.input_layer(x)
            for b in self.blocks:
                x = b(x)
            return self.output_layer(x)

    return DeepNeuralNetwork()


class ResidualNetPricer(RegressorMixin, BaseEstimator):
    """Dollars in, dollars out; fits log(1 + price) inside. Takes the baselines' table (uses its ``text``)."""

    # threads=1: on a shared machine (a classroom server, a busy laptop) PyTorch's threads wait on each other;
    # measured here under load, one thread trained 10x faster than two.
    def __init__(
        self,
        n_features: int = 5000,
        layers: int = 8,
        hidden: int = 128,
        dropout: float = 0.2,
        epochs: int = 40,
        batch_size: int = 32,
        lr: float = 1e-3,
        threads: int = 1,
        seed: int = 42,
        time_budget_s: float = 120.0,
    ):
        self.n_features = n_features
        self.layers = layers
        self.hidden = hidden
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.threads = threads
        self.seed = seed
        self.time_budget_s = time_budget_s

    def _vectors(self, X):
        from sklearn.feature_extraction.text import HashingVectorizer

        texts = list(X["text"]) if hasattr(X, "columns") else list(X)
        vec = HashingVectorizer(n_features=self.n_features, stop_words="english", binary=True, alternate_sign=False)
        return vec.transform(texts).toarray().astype(np.float32)

    def fit_steps(self, X, y) -> Iterator[dict]:
        """Train, yielding {'epoch', 'epochs', 'loss' (mean L1 on standardised log price), 'seconds'} per epoch.

        Stops early (and says so in the last dict, ``'stopped': 'time budget'``) past ``time_budget_s``.
        """
        import torch

        torch.manual_seed(self.seed)
        old_threads = torch.get_num_threads()
        torch.set_num_threads(max(1, self.threads))
        try:
            x = torch.from_numpy(self._vectors(X))
            logy = np.log1p(np.asarray(y, dtype=np.float64))
            self.y_mean_, self.y_std_ = float(logy.mean()), float(logy.std() or 1.0)
            t = torch.from_numpy(((logy - self.y_mean_) / self.y_std_).astype(np.float32)).unsqueeze(1)
            self.model_ = _build(x.shape[1], self.layers, self.hidden, self.dropout)
            opt = torch.optim.AdamW(self.model_.parameters(), lr=self.lr, weight_decay=0.01)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, self.epochs), eta_min=0)
            loss_fn = torch.nn.L1Loss()
            gen = torch.Generator().manual_seed(self.seed)
            start = time.perf_counter()
            self.history_ = []
            for epoch in range(1, self.epochs + 1):
                self.model_.train()
                losses = []
                for idx in torch.randperm(len(x), generator=gen).split(self.batch_size):
                    opt.zero_grad()
                    loss = loss_fn(self.model_(x[idx]), t[idx])
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(self.model_.parameters(), max_norm=1.0)
                    opt.step()
                    losses.append(loss.item())
                sched.step()
                elapsed = time.perf_counter() - start
                step = {
                    "epoch": epoch,
                    "epochs": self.epochs,
                    "loss": float(np.mean(losses)),
                    "seconds": round(elapsed, 2),
                }
                if elapsed >= self.time_budget_s and epoch < self.epochs:
                    step["stopped"] = "time budget"
                self.history_.append(step)
                yield step
                if "stopped" in step:
                    break
            self.model_.eval()
        finally:
            torch.set_num_threads(old_threads)

    def fit(self, X, y):
        for _ in self.fit_steps(X, y):
            pass
        return self

    def predict(self, X):
        import torch

        with torch.no_grad():
            out = self.model_(torch.from_numpy(self._vectors(X))).squeeze(1).numpy().astype(np.float64)
        return np.maximum(0.0, np.expm1(out * self.y_std_ + self.y_mean_))

    # The network's classes are built inside a function (so importing this module does not import torch);
    # pickle (joblib, persistence) keeps the weights as a state dict and rebuilds the network on load.
    def __getstate__(self):
        state = dict(self.__dict__)
        if "model_" in state:
            state["model_"] = {k: v.detach().clone() for k, v in state["model_"].state_dict().items()}
        return state

    def __setstate__(self, state):
        weights = state.get("model_")
        self.__dict__.update(state)
        if isinstance(weights, dict):
            self.model_ = _build(self.n_features, self.layers, self.hidden, self.dropout)
            self.model_.load_state_dict(weights)
            self.model_.eval()

    def n_weights(self) -> int:
        return sum(p.numel() for p in self.model_.parameters()) if hasattr(self, "model_") else 0
