"""Which Keras classes a scenario may name: scenario files are shared, so they are untrusted.

A scenario names Keras classes by `type` and passes them arguments. tuilab builds only classes
that compute (or, for callbacks, write inside the trial's own folder); every other class of
the Keras namespaces is refused by `tuilab validate` with the reason and what to use instead.
A class a future Keras adds is refused until it is listed here.

Layers allowed (they only compute on the tensors they are given):
    core: Dense, EinsumDense, Embedding, ReversibleEmbedding, Identity, Masking, Activation,
        ReLU, LeakyReLU, PReLU, ELU, Softmax;
    convolution: Conv1D/2D/3D, their Transpose forms, SeparableConv1D/2D, DepthwiseConv1D/2D
        (and the Convolution* aliases);
    pooling: Max/Average pooling 1D-3D, global and adaptive pooling (and the *Pool* aliases);
    normalization: BatchNormalization, LayerNormalization, GroupNormalization,
        UnitNormalization, RMSNormalization;
    regularization: Dropout, SpatialDropout1D-3D, GaussianDropout, GaussianNoise,
        AlphaDropout, ActivityRegularization;
    reshaping: Flatten, Reshape, Permute, RepeatVector, UpSampling, ZeroPadding, Cropping;
    recurrent: LSTM, GRU, SimpleRNN, ConvLSTM1D-3D (each builds its own cell);
    preprocessing that reads no file: Rescaling, Normalization (with `mean` and `variance`:
        tuilab never calls `adapt()`), Discretization (with `bin_boundaries`), CategoryEncoding,
        Hashing, Resizing, CenterCrop, the image augmentation layers (RandomFlip,
        RandomRotation, RandAugment, AugMix, ...), MelSpectrogram, STFTSpectrogram.

Refused: layers that load a graph or weights from disk (TFSMLayer), read a vocabulary file
(StringLookup, IntegerLookup, TextVectorization), run Python code (Lambda, TorchModuleWrapper,
JaxLayer, FlaxLayer), take another layer or a config Keras deserialises (Bidirectional,
TimeDistributed, Wrapper, SpectralNormalization, RNN, StackedRNNCells, Pipeline), cells,
layers with several inputs (merging and attention layers: a tuilab model is one Sequential
stack), and layers that need labels or boxes a Sequential layer never sees (MixUp, CutMix,
MaxNumBoundingBoxes).

Callbacks allowed: EarlyStopping, ReduceLROnPlateau, TerminateOnNaN, SwapEMAWeights and, with
their paths confined to the trial folder, CSVLogger, ModelCheckpoint, BackupAndRestore,
TensorBoard. Refused: ProgbarLogger, History, LambdaCallback, LearningRateScheduler,
RemoteMonitor, OrbaxCheckpoint and the bases Callback and CallbackList.

Optimizers: all but LossScaleOptimizer, MultiOptimizer and the base Optimizer. Losses: all
but the base Loss. Metrics (`compile.metrics` tables such as `{ type = "F1Score" }`): all but
the base Metric, MeanMetricWrapper (it wraps a Python function) and Mean and Sum (they
reduce values they are given, not labels and predictions). Learning-rate schedules,
initializers, regularizers and constraints: the concrete classes of
`keras.optimizers.schedules`, `keras.initializers`, `keras.regularizers` and
`keras.constraints`, built by tuilab from `{ type = "...", ... }` tables.
"""

from __future__ import annotations

_CORE = (
    "Dense EinsumDense Embedding ReversibleEmbedding Identity Masking Activation ReLU LeakyReLU"
    " PReLU ELU Softmax"
)
_CONV = (
    "Conv1D Conv2D Conv3D Conv1DTranspose Conv2DTranspose Conv3DTranspose SeparableConv1D"
    " SeparableConv2D DepthwiseConv1D DepthwiseConv2D Convolution1D Convolution2D Convolution3D"
    " Convolution1DTranspose Convolution2DTranspose Convolution3DTranspose"
    " SeparableConvolution1D SeparableConvolution2D"
)
_POOL = " ".join(
    f"{kind}{d}D"
    for d in (1, 2, 3)
    for kind in (
        "MaxPooling",
        "MaxPool",
        "AveragePooling",
        "AvgPool",
        "GlobalMaxPooling",
        "GlobalMaxPool",
        "GlobalAveragePooling",
        "GlobalAvgPool",
        "AdaptiveMaxPooling",
        "AdaptiveAveragePooling",
    )
)
_NORMALIZATION = (
    "BatchNormalization LayerNormalization GroupNormalization UnitNormalization RMSNormalization"
)
_REGULARIZATION = (
    "Dropout SpatialDropout1D SpatialDropout2D SpatialDropout3D GaussianDropout GaussianNoise"
    " AlphaDropout ActivityRegularization"
)
_RESHAPING = (
    "Flatten Reshape Permute RepeatVector UpSampling1D UpSampling2D UpSampling3D ZeroPadding1D"
    " ZeroPadding2D ZeroPadding3D Cropping1D Cropping2D Cropping3D"
)
_RECURRENT = "LSTM GRU SimpleRNN ConvLSTM1D ConvLSTM2D ConvLSTM3D"
_PREPROCESSING = (
    "Rescaling Normalization Discretization CategoryEncoding Hashing Resizing CenterCrop"
    " RandomCrop RandomFlip RandomRotation RandomTranslation RandomZoom RandomContrast"
    " RandomBrightness RandomShear RandomErasing RandomGaussianBlur RandomGrayscale RandomHue"
    " RandomSaturation RandomSharpness RandomInvert RandomPosterization RandomPerspective"
    " RandomElasticTransform RandomColorDegeneration RandomColorJitter AutoContrast"
    " Equalization Solarization AugMix RandAugment ContrastLimitedAdaptiveHistogramEqualization"
    " MelSpectrogram STFTSpectrogram"
)

_WRAPS = "it takes another layer, or a config that Keras deserialises into one"
_RNN_INSTEAD = "use LSTM, GRU or SimpleRNN"
_ONE_INPUT = "it takes several inputs; a tuilab model is one Sequential stack with one input"
_REDUCES = "it reduces values it is given, not the labels and predictions compile passes"
_VOCABULARY = "it can read its vocabulary from a file on disk; tuilab's datasets are numeric"

REFUSED: dict[str, dict[str, tuple[str, str]]] = {
    "layers": {
        "TFSMLayer": ("it loads and runs a saved graph from disk", "build the model from layers"),
        "Lambda": ("it runs Python code", "a scenario holds no code; use the built-in layers"),
        "TorchModuleWrapper": ("it wraps a PyTorch module, which is Python code", ""),
        "JaxLayer": ("it wraps JAX functions, which are Python code", ""),
        "FlaxLayer": ("it wraps a Flax module, which is Python code", ""),
        "StringLookup": (_VOCABULARY, ""),
        "IntegerLookup": (_VOCABULARY, "use CategoryEncoding or Hashing"),
        "TextVectorization": (_VOCABULARY + " and it can run Python callables", ""),
        "Bidirectional": (_WRAPS, _RNN_INSTEAD),
        "TimeDistributed": (_WRAPS, "Dense and convolutions apply to the last axes already"),
        "Wrapper": (_WRAPS, ""),
        "SpectralNormalization": (_WRAPS, "use a kernel_constraint such as MaxNorm"),
        "RNN": (_WRAPS, _RNN_INSTEAD),
        "StackedRNNCells": (_WRAPS, "stack LSTM layers with return_sequences = true"),
        "Pipeline": (_WRAPS, "list the layers in model.layers"),
        "LSTMCell": ("a cell runs inside an RNN layer, not in a model", "use LSTM"),
        "GRUCell": ("a cell runs inside an RNN layer, not in a model", "use GRU"),
        "SimpleRNNCell": ("a cell runs inside an RNN layer, not in a model", "use SimpleRNN"),
        "InputLayer": ("the input comes from the data", "remove it"),
        "Layer": ("it is the abstract base class", "name a concrete layer such as Dense"),
        "MixUp": ("it mixes labels too, which a layer of the model never sees", ""),
        "CutMix": ("it mixes labels too, which a layer of the model never sees", ""),
        "MaxNumBoundingBoxes": ("it works on bounding boxes, which tuilab's data has none of", ""),
        **{
            name: (_ONE_INPUT, "")
            for name in [
                "Add",
                "Subtract",
                "Multiply",
                "Average",
                "Maximum",
                "Minimum",
                "Concatenate",
                "Dot",
                "Attention",
                "AdditiveAttention",
                "MultiHeadAttention",
                "GroupQueryAttention",
                "HashedCrossing",
            ]
        },
    },
    "callbacks": {
        "ProgbarLogger": (
            "it prints a progress bar into the terminal tuilab draws on",
            "tuilab shows progress itself",
        ),
        "History": (
            "tuilab records the history itself",
            "see history.csv in the trial folder, or add CSVLogger",
        ),
        "LambdaCallback": ("it needs Python functions; a scenario holds no code", ""),
        "LearningRateScheduler": (
            "it needs a Python function; a scenario holds no code",
            'give compile.optimizer a schedule: learning_rate = { type = "ExponentialDecay",'
            " initial_learning_rate = 0.1, decay_steps = 100, decay_rate = 0.9 }",
        ),
        "RemoteMonitor": (
            "it sends every epoch's results over the network to a URL",
            "use CSVLogger or TensorBoard, which write into the trial folder",
        ),
        "OrbaxCheckpoint": (
            "it needs the orbax-checkpoint package, which tuilab does not install",
            "use ModelCheckpoint",
        ),
        "Callback": ("it is the base class and does nothing", "name a concrete callback"),
        "CallbackList": ("tuilab builds the list of callbacks itself", "list each callback"),
    },
    "optimizers": {
        "LossScaleOptimizer": (
            "it wraps another optimizer",
            "set fit.mixed_precision = true; tuilab scales the loss then",
        ),
        "MultiOptimizer": ("it takes optimizers and layers as objects", "use one optimizer"),
        "Optimizer": ("it is the abstract base class", 'use e.g. "adam" or "sgd"'),
    },
    "losses": {"Loss": ("it is the abstract base class", "name a concrete loss")},
    "metrics": {
        "Metric": ("it is the abstract base class", 'name a concrete metric, e.g. "accuracy"'),
        "MeanMetricWrapper": ("it wraps a Python function; a scenario holds no code", ""),
        "Mean": (_REDUCES, 'e.g. { type = "F1Score" } or "accuracy"'),
        "Sum": (_REDUCES, 'e.g. { type = "F1Score" } or "accuracy"'),
    },
}
_BASES = {
    "optimizers.schedules": "LearningRateSchedule",
    "initializers": "Initializer",
    "regularizers": "Regularizer",
    "constraints": "Constraint",
}
for _namespace, _base in _BASES.items():
    REFUSED[_namespace] = {_base: ("it is the abstract base class", "name a concrete class")}

_GROUPS = (_CORE, _CONV, _POOL, _NORMALIZATION, _REGULARIZATION, _RESHAPING, _RECURRENT)
ALLOWED_LAYERS = frozenset(" ".join((*_GROUPS, _PREPROCESSING)).split())
ALLOWED_CALLBACKS = frozenset(
    [
        "EarlyStopping",
        "ReduceLROnPlateau",
        "TerminateOnNaN",
        "SwapEMAWeights",
        "CSVLogger",
        "ModelCheckpoint",
        "BackupAndRestore",
        "TensorBoard",
    ]
)
SCHEDULES = frozenset(
    [
        "ExponentialDecay",
        "PiecewiseConstantDecay",
        "PolynomialDecay",
        "InverseTimeDecay",
        "CosineDecay",
        "CosineDecayRestarts",
    ]
)
OPEN_NAMESPACES = (
    "optimizers",
    "losses",
    "metrics",
    "initializers",
    "regularizers",
    "constraints",
)
"""Namespaces whose every class computes only; their refusals are listed in REFUSED."""

REFUSED_ARGUMENTS: dict[str, dict[str, str]] = {
    "layers": {
        "cell": "a cell is a layer object; LSTM, GRU and SimpleRNN build their own",
        "cells": "cells are layer objects",
        "layer": "a layer object",
        "layers": "layer objects",
        "quantization_config": "a config that Keras deserialises",
    },
    "callbacks": {
        "embeddings_metadata": "it names files outside the trial folder for TensorBoard",
    },
}

NEEDED_ARGUMENTS: dict[str, tuple[tuple[str, ...], str]] = {
    "Normalization": (
        ("mean", "variance"),
        "tuilab never calls adapt(); give mean and variance, or use data.normalize",
    ),
    "Discretization": (
        ("bin_boundaries",),
        "tuilab never calls adapt(); give bin_boundaries",
    ),
}
"""Layers that would silently do nothing (or fail) without adapt(): these arguments are needed."""


def refusal(namespace: str, name: str) -> tuple[str, str] | None:
    """Why `keras.<namespace>.<name>` (a real class) may not be named, and what to use instead.

    Returns:
        None when the class is allowed, else (reason, instead).
    """
    if name in REFUSED.get(namespace, {}):
        return REFUSED[namespace][name]
    if namespace == "layers" and name in ALLOWED_LAYERS:
        return None
    if namespace == "callbacks" and name in ALLOWED_CALLBACKS:
        return None
    if namespace == "optimizers.schedules" and name in SCHEDULES:
        return None
    if namespace in OPEN_NAMESPACES:
        return None
    return (
        "it is not on tuilab's list of classes that only compute (tuilab/model/allowlist.py)",
        "",
    )
