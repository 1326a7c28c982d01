"""The Agents lab's ensemble on the Pricer page: registered with ``lab.pricer.ensemble.register_ensemble``.

The Pricer page imports this module (``lab.pricer.ensemble.AGENTS_HOOK``) and shows a "Run" button beside its
classical ensemble. ``run(ds)`` prices the page's test items with the agents' fitted ensemble (local provider for
the frontier member) and returns the guesses plus notes: weights, which model each member is, each member's MAE
on the same items, and how many of those items the agents' models learned from (non-zero when the page's data or
seed differs from the default split the agents were fitted on: then the score is optimistic, and says so).
For the whole comparison in one call, use ``lab.agents.ensemble.score_on_pricer_test``.
"""

from __future__ import annotations

from lab.pricer.ensemble import register_ensemble

NAME = "agents ensemble (specialist + frontier + forest)"


def run(ds) -> tuple[list[float], dict]:
    from lab.agents.cycle import get_ensemble
    from lab.agents.ensemble import splits
    from lab.llm import get_provider
    from lab.pricer.metrics import score

    agent = get_ensemble(get_provider("local"))
    guesses = agent.guesses(ds.test)
    preds = agent.ensemble.predict(guesses)
    train, held, _ = splits()
    learned = {it.text for it in train + held}
    truth = [it.price for it in ds.test]
    notes = {
        "weights": {k: round(v, 4) for k, v in agent.weights().items()},
        "members": {m.name: m.label for m in agent.members},
        "member_mae": {k: round(score(truth, v)["mae"], 2) for k, v in guesses.items()},
        "test_items_the_agents_learned_from": sum(it.text in learned for it in ds.test),
    }
    return preds, notes


register_ensemble(
    NAME,
    run,
    "The Agents lab's pricer: a linear regression over a specialist (fine-tuned or base "
    "SmolLM2), a frontier model with 5 similar products from chromadb, and a random forest "
    "on MiniLM vectors, fitted on 60 held-out items.",
)
