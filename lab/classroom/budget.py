"""Token budgets: keep 30 students from spending the instructor's API key in one afternoon.

When a key comes from the *deployment* (environment or Streamlit secrets), every request is charged to the
student's session and to a global pool; past either limit the request is refused before anything is sent.
A key a student pasted is theirs: no budget applies (the UI decides which case it is).

    >>> b = TokenBudget(per_session=100, total=1000)
    >>> b.charge("alice", 60); b.charge("alice", 50)        # the request that crosses the line still completes
    >>> b.check("alice")
    Traceback (most recent call last):
    ...
    lab.core.errors.BudgetExceeded: This session has used 110 of its 100 tokens on the deployment's key. Paste your own key in the sidebar, or ask the instructor to raise LAB_SESSION_TOKEN_BUDGET.
    >>> b.check("bob"); b.used("bob"), b.used_total()
    (0, 110)
"""

from __future__ import annotations

import threading
from typing import Iterator

from lab.core.errors import BudgetExceeded
from lab.llm.base import Chunk, Message, Options, Provider


class TokenBudget:
    """Thread-safe counters; ``0`` means no limit. In memory: a restart resets the day's pool."""

    def __init__(self, per_session: int, total: int) -> None:
        self.per_session, self.total = per_session, total
        self._by_session: dict[str, int] = {}
        self._lock = threading.Lock()

    def used(self, session: str) -> int:
        return self._by_session.get(session, 0)

    def used_total(self) -> int:
        return sum(self._by_session.values())

    def check(self, session: str) -> None:
        with self._lock:
            mine, everyone = self.used(session), self.used_total()
        if self.per_session and mine >= self.per_session:
            raise BudgetExceeded(
                f"This session has used {mine:,} of its {self.per_session:,} tokens on the deployment's "
                "key. Paste your own key in the sidebar, or ask the instructor to raise "
                "LAB_SESSION_TOKEN_BUDGET."
            )
        if self.total and everyone >= self.total:
            raise BudgetExceeded(
                f"The class has used {everyone:,} of the {self.total:,} tokens budgeted for the "
                "deployment's key. Use the local model, paste your own key, or ask the instructor "
                "to raise LAB_GLOBAL_TOKEN_BUDGET."
            )

    def charge(self, session: str, tokens: int) -> None:
        with self._lock:
            self._by_session[session] = self._by_session.get(session, 0) + max(0, tokens)


class BudgetedProvider:
    """Wraps any provider: checks the budget before a request, charges its usage after."""

    def __init__(self, inner: Provider, budget: TokenBudget, session: str) -> None:
        self.inner, self.budget, self.session = inner, budget, session
        self.name, self.default_model = inner.name, inner.default_model

    def stream(
        self,
        messages: list[Message],
        *,
        model: str | None = None,
        options: Options | None = None,
        tools: list[dict] | None = None,
    ) -> Iterator[Chunk]:
        self.budget.check(self.session)
        for chunk in self.inner.stream(messages, model=model, options=options, tools=tools):
            if chunk.usage:
                self.budget.charge(self.session, chunk.usage.prompt_tokens + chunk.usage.completion_tokens)
            yield chunk


_SHARED: TokenBudget | None = None
_SHARED_LOCK = threading.Lock()


def shared_budget() -> TokenBudget:
    """The one budget of this server process, sized from settings (LAB_SESSION/GLOBAL_TOKEN_BUDGET)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            from lab.core.settings import get_settings

            s = get_settings()
            _SHARED = TokenBudget(s.session_token_budget, s.global_token_budget)
        return _SHARED
