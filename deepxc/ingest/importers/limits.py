"""What each supported op leaves out: the forms and attributes its importer or emitter
refuses, in a few words. `deepxc ops` prints these beside the names in IMPORTERS; an op
without an entry takes every form ONNX defines. Tensors computed at run time are float32
throughout; integer tensors exist only as constants, folded at build time."""

LIMITS = {
    "AveragePool": "1-D, 2-D, 3-D; every window must reach the input",
    "BatchNormalization": "inference only (no training_mode, spatial=1); constant statistics",
    "Cast": "a run-time tensor only to float32 (float32 to float32); constants to any type",
    "Clip": "constant min and max",
    "Constant": "numeric values (no sparse or string values)",
    "ConstantOfShape": "constant shape (folded at build time)",
    "Conv": "1-D, 2-D, 3-D",
    "ConvTranspose": (
        "1-D, 2-D, 3-D; output_padding below the stride; pads no larger than the dilated "
        "kernel's extent"
    ),
    "Dropout": "inference only (training_mode a constant false)",
    "Expand": "constant shape",
    "Gather": "constant indices",
    "GlobalAveragePool": "input with a spatial dimension",
    "GlobalMaxPool": "input with a spatial dimension",
    "LRN": "input with a channel dimension",
    "LayerNormalization": "output Y only (no Mean, InvStdDev)",
    "MaxPool": "1-D, 2-D, 3-D; no Indices output; every window must reach the input",
    "Pad": "modes constant, reflect, edge; constant pads, value and axes; no negative pads",
    "ReduceMax": "constant axes",
    "ReduceMean": "constant axes",
    "ReduceSum": "constant axes",
    "Reshape": "output shape known at build time",
    "Resize": (
        "H and W of 4-D NCHW data; nearest, linear, cubic; no tf_crop_and_resize, no "
        "antialias when downsizing, no half_pixel_symmetric with nearest; scales or sizes "
        "known at build time"
    ),
    "Shape": "folded at build time",
    "Slice": "constant starts, ends, axes and steps",
    "Split": "constant split sizes",
    "Squeeze": "constant axes",
    "Unsqueeze": "constant axes",
    "Upsample": "H and W of 4-D NCHW data; constant scales",
}
