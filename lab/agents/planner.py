"""The planning agent: the course's fixed plan, or an LLM that runs the same three agents as tools.

Fixed plan (``plan``): scan -> price each selected deal with the ensemble -> sort by discount (estimate - price)
-> notify the best one when its discount is above the threshold. Every priced deal is an *opportunity* and is
remembered, so the next cycle never surfaces it again.

Autonomous plan (``plan_with_llm``): the model gets three tools (the course's names) and decides the order itself,
through the Tools lab's loop (``lab.tools.run_tools``): native tool calls for OpenAI/Anthropic/Ollama, and for the
local SmolLM2 the constrained-JSON strategy (it has no tool support). What the model passes is not trusted
blindly: an estimate it reports for a deal is replaced by the ensemble's own number for that deal, and a second
notification is refused, as the course does.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import Field

from lab.agents.framework import Agent
from lab.llm.base import Provider

DEAL_THRESHOLD = 50.0
# The local model as the autonomous planner, measured (issue 20): `python -m lab agents run --plan llm --json`, memory
# cleared before each run, once on the bundled feeds and once on each of the 5 feeds alone (`--feed
# lab/agents/feeds/<name>.xml`): 6 different inputs. SmolLM2-135M called the scanner first in 6 of 6, then answered
# in prose ("Sure, I'll respond with JSON.") instead of estimating: 0 of 6 estimated a deal, 0 of 6 notified.
# Repeating an input repeats the run (same prompt, llama.cpp's fixed seed): 10 runs on the bundled feeds, the same.
LOCAL_PLANNER_MEASURED = {"inputs": 6, "scanned": 6, "estimated": 0, "notified": 0}


def local_planner_label() -> str:
    """What the local model achieves as the autonomous planner, from the measurement above."""
    m = LOCAL_PLANNER_MEASURED
    return (
        f"Measured success rate of SmolLM2-135M as the planner: {m['notified']} of {m['inputs']} runs completed "
        f"scan -> estimate -> notify ({m['scanned']} of {m['inputs']} called the scanner, {m['estimated']} of "
        f"{m['inputs']} went on to estimate a deal; `python -m lab agents run --plan llm` on {m['inputs']} different "
        "feeds). It makes well-formed tool calls but does not plan; a frontier model does this well."
    )


SYSTEM_MESSAGE = "You find great deals on bargain products using your tools, and notify the user of the best bargain."
USER_MESSAGE = (
    "First, use your tool to scan the internet for bargain deals. Then for each deal, use your tool to "
    "estimate its true value. Then pick the single most compelling deal where the price is much lower "
    "than the estimated true value, and use your tool to notify the user. Then just reply OK."
)


@dataclass
class PlanResult:
    opportunities: list[dict] = field(default_factory=list)
    notified: list[dict] = field(default_factory=list)
    scan: object = None
    answer: str = ""  # the model's last words (autonomous plan)
    rounds: int = 0
    seconds: dict = field(default_factory=dict)  # stage -> seconds: scan, price (all deals), notify

    def timed(self, stage: str, t0: float) -> None:
        self.seconds[stage] = round(self.seconds.get(stage, 0.0) + time.perf_counter() - t0, 2)


def opportunity(deal, priced) -> dict:
    return {
        "title": deal.title,
        "url": deal.url,
        "price": deal.price,
        "estimate": round(priced.estimate, 2),
        "discount": round(priced.estimate - deal.price, 2),
        "members": {k: None if v is None else round(v, 2) for k, v in priced.members.items()},
        "seconds": {k: round(v, 3) for k, v in priced.seconds.items()},
        "source": deal.source,
        "category": deal.category,
        "description": deal.description,
    }


class PlanningAgent(Agent):
    name = "Planning Agent"
    color = "green"

    def __init__(
        self,
        scanner,
        ensemble,
        messenger,
        provider: Provider,
        log=None,
        *,
        model: str | None = None,
        threshold: float = DEAL_THRESHOLD,
        n: int = 5,
    ) -> None:
        super().__init__(log)
        self.scanner, self.ensemble, self.messenger = scanner, ensemble, messenger
        self.provider, self.model, self.threshold, self.n = provider, model, threshold, n

    def price_deal(self, deal) -> dict:
        self.log(f"pricing '{deal.title[:60]}' (${deal.price:,.2f})")
        return opportunity(deal, self.ensemble.price(deal.description))

    def plan(self, known: set[str]) -> PlanResult:
        self.log("kicking off a run (fixed plan)")
        out = PlanResult()
        t0 = time.perf_counter()
        out.scan = self.scanner.scan(self.provider, known=known, n=self.n, model=self.model)
        out.timed("scan", t0)
        t0 = time.perf_counter()
        out.opportunities = sorted(
            (self.price_deal(d) for d in out.scan.deals[: self.n]), key=lambda o: o["discount"], reverse=True
        )
        out.timed("price", t0)
        if not out.opportunities:
            self.log("no deals to price this time")
            return out
        best = out.opportunities[0]
        self.log(f"best deal: '{best['title'][:60]}' with discount ${best['discount']:,.2f}")
        if best["discount"] > self.threshold:
            t0 = time.perf_counter()
            out.notified.append(
                self.messenger.notify(best["title"], best["description"], best["price"], best["estimate"], best["url"])
            )
            out.timed("notify", t0)
        else:
            self.log(f"no deal beats its price by more than ${self.threshold:,.0f}: no notification")
        return out

    def plan_with_llm(self, known: set[str], max_rounds: int = 10) -> PlanResult:
        from lab.tools.loop import run_tools
        from lab.tools.registry import ToolRegistry

        self.log(f"kicking off a run (autonomous: {self.provider.name} calls the agents as tools)")
        if self.provider.name == "local":
            self.log(local_planner_label())
        out = PlanResult()
        by_description: dict[str, dict] = {}

        def scan_the_internet_for_bargains() -> str:
            """Returns top bargains scraped from the internet along with the price each item is being offered for."""
            self.log("the model asks the scanner for bargains")
            t0 = time.perf_counter()
            out.scan = self.scanner.scan(self.provider, known=known, n=self.n, model=self.model)
            out.timed("scan", t0)
            return (
                json.dumps(
                    {
                        "deals": [
                            {"product_description": d.description, "price": d.price, "url": d.url}
                            for d in out.scan.deals
                        ]
                    }
                )
                if out.scan.deals
                else "No deals found"
            )

        def estimate_true_value(
            description: Annotated[str, Field(description="The description of the item to be estimated")],
        ) -> str:
            """Given the description of an item, estimate how much it is actually worth."""
            deals = out.scan.deals if out.scan else []
            deal = next((d for d in deals if d.description == description or d.title == description), None)
            if deal is None:  # the model paraphrased: price its text anyway, but it cannot become an opportunity
                priced = self.ensemble.price(description)
                self.log("the model's description matches no scanned deal: priced, not surfaced")
                return f"The estimated true value of {description} is {round(priced.estimate, 2)}"
            opp = next((o for o in out.opportunities if o["url"] == deal.url), None)
            if opp is None:
                t0 = time.perf_counter()
                opp = self.price_deal(deal)
                out.timed("price", t0)
                out.opportunities.append(opp)
            by_description[description] = opp
            return f"The estimated true value of {description} is {opp['estimate']}"

        def notify_user_of_deal(
            description: Annotated[
                str, Field(description="The description of the item itself scraped from the internet")
            ],
            deal_price: Annotated[float, Field(description="The price offered by this deal scraped from the internet")],
            estimated_true_value: Annotated[float, Field(description="The estimated actual value that this is worth")],
            url: Annotated[str, Field(description="The URL of this deal as scraped from the internet")],
        ) -> str:
            """Send the user a push notification about the single most compelling deal; only call this one time."""
            if out.notified:
                self.log("the model tries to notify a second time; ignored")
                return "Already notified: only one notification per run."
            opp = next((o for o in out.opportunities if o["url"] == url), by_description.get(description))
            if opp is None:
                self.log("the model wants to notify a deal it never had estimated; refused")
                return "Error: estimate this deal with estimate_true_value first."
            if abs(opp["estimate"] - estimated_true_value) > 0.01:
                self.log(
                    f"the model said ${estimated_true_value:,.2f}; the ensemble said ${opp['estimate']:,.2f}: "
                    "using the ensemble's"
                )
            t0 = time.perf_counter()
            out.notified.append(
                self.messenger.notify(opp["title"], opp["description"], opp["price"], opp["estimate"], opp["url"])
            )
            out.timed("notify", t0)
            return "Notification sent ok"

        registry = ToolRegistry([scan_the_internet_for_bargains, estimate_true_value, notify_user_of_deal])
        messages = [{"role": "system", "content": SYSTEM_MESSAGE}, {"role": "user", "content": USER_MESSAGE}]
        result = run_tools(
            self.provider,
            messages,
            registry,
            model=self.model,
            max_rounds=max_rounds,
            on_round=lambda r: self.log(
                f"round {r.index}: "
                + (
                    ", ".join(f"{c.name} ({c.status})" for c in r.calls)
                    or f"answer: {(r.assistant.get('content') or '')[:80]}"
                )
            ),
        )
        out.answer, out.rounds = result.answer, len(result.rounds)
        out.opportunities.sort(key=lambda o: o["discount"], reverse=True)
        self.log(f"the model finished after {out.rounds} round(s) ({result.stopped}): {result.answer[:120]}")
        return out
