"""Deciding: answer checks (and the sandbox for model-written code), per-prompt verdicts, the
metrics table, statistics, gates, run comparison and the recommendation.

Works on measured samples and on reports as data; never starts a model, never reads or writes
files other than the settings it is handed, never renders.
"""
