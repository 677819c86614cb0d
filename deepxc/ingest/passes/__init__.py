"""Simplifying IR passes, run in this order after import; each in its own file."""

PASSES = []
