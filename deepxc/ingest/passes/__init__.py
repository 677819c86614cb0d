"""Simplifying IR passes, run in this order after import; each in its own file."""

from deepxc.ingest.passes import drop_identity, fold_batchnorm, fold_constants

PASSES = [
    ("fold_constants", fold_constants.run),
    ("drop_identity", drop_identity.run),
    ("fold_batchnorm", fold_batchnorm.run),
]
