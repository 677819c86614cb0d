"""Lowered partitions -> bundle directory: C runtime from templates, weights, build files."""
