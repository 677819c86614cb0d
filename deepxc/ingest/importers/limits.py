"""What each supported op leaves out: the forms and attributes its importer or emitter
refuses, in a few words. `deepxc ops` prints these beside the names in IMPORTERS; an op
without an entry takes every form ONNX defines. Tensors computed at run time are float32
throughout; integer tensors exist only as constants, folded at build time."""

LIMITS = {
    "AveragePool": "1-D, 2-D, 3-D; every window must reach the input",
    "BatchNormalization": "inference only (no training_mode, spatial=1); constant statistics",
    "Clip": "constant min and max",
    "Constant": "numeric values (no sparse or string values)",
    "ConstantOfShape": "constant shape (folded at build time)",
    "Conv": "1-D, 2-D, 3-D",
    "Dropout": "inference only (training_mode a constant false)",
    "Gather": "constant indices",
    "GlobalAveragePool": "input with a spatial dimension",
    "GlobalMaxPool": "input with a spatial dimension",
    "LRN": "input with a channel dimension",
    "MaxPool": "1-D, 2-D, 3-D; no Indices output; every window must reach the input",
    "Pad": "modes constant, reflect, edge; constant pads, value and axes; no negative pads",
    "Reshape": "output shape known at build time",
    "Shape": "folded at build time",
    "Split": "constant split sizes",
    "Squeeze": "constant axes",
    "Unsqueeze": "constant axes",
}
