"""Pricer lab: curate product data, price it with baselines, LLMs and an ensemble, score like the course."""
