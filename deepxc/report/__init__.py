"""`deepxc report`: one self-contained HTML page about a bundle (sizes, per-layer costs,
measured kernel times, the arena's plan, the RLC levels), read from the bundle directory
as a user would; no compiler stage imports it."""

from deepxc.report.page import render_report, write_report

__all__ = ["render_report", "write_report"]
