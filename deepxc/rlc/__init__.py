"""RLC, runtime layer compression: low-rank rewrites of weight-heavy layers."""
