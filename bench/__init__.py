"""Benchmarks: speed and memory targets live here, never in timed unit tests.

Each module ``bench/<lab>.py`` has a ``main()`` that measures the lab's code *and a reference in the same
run* (raw library calls on the same inputs) and prints ratios, so a figure means the same on any machine.
``python -m bench`` runs them all; ``python -m bench.<lab>`` runs one.
"""
