"""The model builder: BatchNorm placement, parameter counts equal Keras's, build errors."""

from __future__ import annotations

import pytest

from tuilab.errors import ScenarioError
from tuilab.model.plan import plan_layers
from tuilab.model.summary import batchnorm_state, summarize
from tuilab.runtime.validation import check_scenario
from tuilab.scenario import load_scenario
from tuilab.scenario.schema import ModelConfig

MLP = """
  { type = "Dense", units = 40, activation = "relu" },
  { type = "Dense", units = 40, activation = "relu" },
  { type = "Dense", units = 40, activation = "relu" },
  { type = "Dense", units = 10, activation = "softmax" },
"""
CNN_2_BLOCKS = """
  { type = "Conv2D", filters = 20, kernel_size = 3, padding = "same" },
  { type = "LeakyReLU" },
  { type = "Conv2D", filters = 20, kernel_size = 3, padding = "same" },
  { type = "LeakyReLU" },
  { type = "MaxPooling2D" },
  { type = "Conv2D", filters = 40, kernel_size = 2, padding = "same" },
  { type = "LeakyReLU" },
  { type = "Conv2D", filters = 40, kernel_size = 2, padding = "same" },
  { type = "LeakyReLU" },
  { type = "MaxPooling2D" },
"""
BLOCK_3 = """
  { type = "Conv2D", filters = 60, kernel_size = 2, padding = "same" },
  { type = "LeakyReLU" },
  { type = "Conv2D", filters = 60, kernel_size = 2, padding = "same" },
  { type = "LeakyReLU" },
  { type = "MaxPooling2D" },
"""
HEAD = """
  { type = "Flatten" },
  { type = "Dense", units = 32 },
  { type = "LeakyReLU" },
  { type = "Dense", units = 32 },
  { type = "LeakyReLU" },
  { type = "Dense", units = 10, activation = "softmax" },
"""
CIFAR = """
  { type = "BatchNormalization" },
  { type = "Conv2D", filters = 20, kernel_size = 3, padding = "same", activation = "relu" },
  { type = "MaxPooling2D" },
  { type = "Conv2D", filters = 40, kernel_size = 3, padding = "same", activation = "relu" },
  { type = "MaxPooling2D" },
  { type = "Conv2D", filters = 80, kernel_size = 3, padding = "same", activation = "relu" },
  { type = "MaxPooling2D" },
  { type = "Conv2D", filters = 160, kernel_size = 3, padding = "same", activation = "relu" },
  { type = "Flatten" },
  { type = "Dense", units = 1000, activation = "relu" },
  { type = "Dense", units = 10, activation = "softmax" },
"""


def scenario_text(dataset: str, layers: str, flatten: bool, batchnorm: str = "") -> str:
    return f"""
[data]
dataset = "{dataset}"
flatten = {str(flatten).lower()}
[model]
{batchnorm}
layers = [{layers}]
"""


@pytest.mark.parametrize(
    ("dataset", "layers", "flatten", "batchnorm", "total", "non_trainable"),
    [
        ("mnist", MLP, True, "", 35_090, 0),
        ("mnist", MLP, True, 'batchnorm = { position = "after", momentum = 0.99 }', 35_570, 240),
        ("fashion_mnist", CNN_2_BLOCKS + HEAD, False, "", 77_638, 0),
        ("fashion_mnist", CNN_2_BLOCKS + BLOCK_3 + HEAD, False, "", 56_318, 0),
        (
            "fashion_mnist",
            CNN_2_BLOCKS + HEAD,
            False,
            'batchnorm = { position = "before" }',
            78_374,
            368,
        ),
        ("cifar10", CIFAR, False, "", 2_723_062, 6),
    ],
)
def test_parameter_counts_match_the_seed_notebooks(
    write_scenario, dataset, layers, flatten, batchnorm, total, non_trainable
):
    scenario = load_scenario(write_scenario(scenario_text(dataset, layers, flatten, batchnorm)))
    model = check_scenario(scenario)["default"]
    summary = summarize(model)
    assert (summary.total, summary.non_trainable) == (total, non_trainable)
    assert summary.total == model.count_params()
    assert sum(row.params for row in summary.rows) == total


def test_cifar_input_batchnorm_has_12_parameters_and_its_four_vectors(write_scenario):
    model = check_scenario(load_scenario(write_scenario(scenario_text("cifar10", CIFAR, False))))
    summary = summarize(model["default"])
    assert summary.rows[0].type == "BatchNormalization" and summary.rows[0].params == 12
    state = batchnorm_state(model["default"])["batch_normalization"]
    assert state == {
        "gamma": [1.0] * 3,
        "beta": [0.0] * 3,
        "moving_mean": [0.0] * 3,
        "moving_variance": [1.0] * 3,
    }


def types(plans) -> list[str]:
    return [p.type for p in plans]


def test_batchnorm_after_goes_after_the_activation():
    config = ModelConfig(
        layers=[
            {"type": "Conv2D", "filters": 4, "kernel_size": 3},
            {"type": "LeakyReLU"},
            {"type": "Dense", "units": 8, "activation": "relu"},
            {"type": "Dense", "units": 10, "activation": "softmax"},
        ],
        batchnorm={"position": "after", "momentum": 0.5},
    )
    plans = plan_layers(config)
    assert types(plans) == [
        "Conv2D",
        "LeakyReLU",
        "BatchNormalization",
        "Dense",
        "BatchNormalization",
        "Dense",
    ]
    assert plans[2].args["momentum"] == 0.5
    assert [p.args["name"] for p in plans] == [
        "conv2d",
        "leaky_relu",
        "batch_normalization",
        "dense",
        "batch_normalization_1",
        "dense_1",
    ]


def test_batchnorm_before_splits_the_activation_out():
    config = ModelConfig(
        layers=[
            {"type": "Dense", "units": 8, "activation": "relu"},
            {"type": "Conv2D", "filters": 4, "kernel_size": 3},
            {"type": "LeakyReLU"},
            {"type": "Dense", "units": 10, "activation": "softmax"},
        ],
        batchnorm={"position": "before"},
    )
    plans = plan_layers(config)
    assert types(plans) == [
        "Dense",
        "BatchNormalization",
        "Activation",
        "Conv2D",
        "BatchNormalization",
        "LeakyReLU",
        "Dense",
    ]
    assert plans[0].args["activation"] is None and plans[2].args["activation"] == "relu"


def test_per_layer_batchnorm_overrides_the_default():
    config = ModelConfig(
        layers=[
            {"type": "Dense", "units": 8, "batchnorm": False},
            {"type": "Dense", "units": 8, "batchnorm": {"momentum": 0.1}},
            {"type": "Dense", "units": 10},
        ],
        batchnorm={"position": "after", "momentum": 0.9},
    )
    plans = plan_layers(config)
    assert types(plans) == ["Dense", "Dense", "BatchNormalization", "Dense"]
    assert plans[2].args["momentum"] == 0.1


def build_errors(write_scenario, text: str) -> str:
    with pytest.raises(ScenarioError) as caught:
        check_scenario(load_scenario(write_scenario(text)))
    return str(caught.value)


@pytest.mark.parametrize(
    ("layers", "flatten", "extra", "expected"),
    [
        (
            '{ type = "Conv2d", filters = 3, kernel_size = 3 }',
            False,
            "",
            "model.layers[0]: unknown Keras layer 'Conv2d' (did you mean 'Conv2D'?",
        ),
        (
            '{ type = "Dense", units = 10, activaton = "softmax" }',
            True,
            "",
            "model.layers[0].activaton: Dense has no argument 'activaton' "
            "(did you mean 'activation'?)",
        ),
        (
            '{ type = "Conv2D", filters = 3, kernel_size = 3 }, { type = "Flatten" }, '
            '{ type = "Dense", units = 10 }',
            True,
            "",
            "model.layers[0]: Conv2D cannot take input of shape (None, 784)",
        ),
        (
            '{ type = "Dense", units = 7, activation = "softmax" }',
            True,
            "",
            "the output layer has 7 units but the data has 10 classes (set units = 10)",
        ),
        (
            '{ type = "MaxPooling2D", pool_size = 8 }, { type = "MaxPooling2D", pool_size = 8 }, '
            '{ type = "Flatten" }, { type = "Dense", units = 10 }',
            False,
            "",
            "model.layers[1]: MaxPooling2D cannot take input of shape (None, 3, 3, 1)",
        ),
        (
            '{ type = "Dense", units = 10, input_shape = [784] }',
            True,
            "",
            "'input_shape' is not needed: the input shape comes from the data",
        ),
        (
            '{ type = "Dense", units = 10, activation = "softmax" }',
            True,
            '[compile]\nloss = "binary_crossentropy"',
            "compile.loss: binary_crossentropy needs 2 classes and 1 output unit",
        ),
        ('{ type = "Dense", units = -3 }', True, "", "model.layers[0]: Dense:"),
        (
            '{ type = "Conv2D", filters = 3, kernel_size = 3 }',
            False,
            "",
            "not one vector per sample (add a Flatten or GlobalAveragePooling2D",
        ),
        (
            '{ type = "Dense", units = 10 }',
            True,
            '[compile]\nmetrics = ["acuracy"]\noptimizer = { type = "SGD", learning_rat = 0.1 }',
            "compile.metrics[0]: unknown Keras metric 'acuracy'",
        ),
        (
            '{ type = "Dense", units = 10 }',
            True,
            '[[callbacks]]\ntype = "EarlyStopping"\npatiense = 3',
            "callbacks[0].patiense: EarlyStopping has no argument 'patiense' "
            "(did you mean 'patience'?)",
        ),
    ],
)
def test_build_errors_name_the_layer_and_the_fix(write_scenario, layers, flatten, extra, expected):
    text = scenario_text("mnist", layers, flatten) + extra
    assert expected in build_errors(write_scenario, text)


def test_optimizer_argument_and_variant_keys(write_scenario):
    text = (
        scenario_text("mnist", '{ type = "Dense", units = 10 }', True)
        + """
[variants.ok]
[variants.bad]
compile.optimizer = { type = "SGD", learning_rat = 0.1 }
"""
    )
    message = build_errors(write_scenario, text)
    assert "variants.bad.compile.optimizer.learning_rat: SGD has no argument" in message
    line = text.splitlines().index('compile.optimizer = { type = "SGD", learning_rat = 0.1 }') + 1
    assert f":{line}: variants.bad" in message  # the line of the variant's own key


@pytest.mark.parametrize(
    ("layer", "expected"),
    [
        ('{ type = "lambda" }', "unknown Keras layer 'lambda'"),
        ('{ type = "TFSMlayer" }', "unknown Keras layer 'TFSMlayer'"),
        ('{ type = "Lamda" }', "unknown Keras layer 'Lamda'"),
    ],
)
def test_hints_suggest_only_allowed_layers(write_scenario, layer, expected):
    text = scenario_text("mnist", f'{layer}, {{ type = "Dense", units = 10 }}', True)
    message = build_errors(write_scenario, text)
    assert expected in message
    assert "Lambda" not in message and "TFSMLayer" not in message


@pytest.mark.parametrize(
    ("layer", "expected"),
    [
        ('{ type = "Normalization" }', "Normalization needs mean and variance (tuilab never"),
        ('{ type = "Discretization", num_bins = 4 }', "Discretization needs bin_boundaries"),
        ('{ type = "MixUp" }', "layer 'MixUp' is not allowed in a scenario: it mixes labels"),
        ('{ type = "Add" }', "layer 'Add' is not allowed in a scenario: it takes several inputs"),
        ('{ type = "InputLayer" }', "'InputLayer' is not allowed in a scenario: the input comes"),
        (
            '{ type = "Dense", units = 8, kernel_regularizer = { type = "L2", l2 = 0.1, '
            'module = "os" } }',
            "kernel_regularizer: kernel_regularizer takes a name or a { type = ... } table",
        ),
        (
            '{ type = "Dense", units = 8, kernel_initializer = { type = "Initializer" } }',
            "kernel_initializer.type: initializer 'Initializer' is not allowed",
        ),
        (
            '{ type = "Dense", units = 8, kernel_initializer = "glorot_unifrom" }',
            "kernel_initializer: unknown initializer 'glorot_unifrom' (did you mean "
            "'glorot_uniform'",
        ),
        (
            '{ type = "Dense", units = 8, kernel_constraint = { type = "MaxNorm", max_valu = 2 } }',
            "kernel_constraint.max_valu: MaxNorm has no argument 'max_valu'",
        ),
        ('{ type = "Dense", units = 8, bias_initializer = "l2" }', "unknown initializer 'l2'"),
        ('{ type = "Rescaling", scale = "1/255" }', "scale = '1/255' looks like a file path"),
    ],
)
def test_refused_layers_and_argument_values(write_scenario, layer, expected):
    text = scenario_text("mnist", f'{layer}, {{ type = "Dense", units = 10 }}', True)
    assert expected in build_errors(write_scenario, text)


def test_allowed_layers_and_argument_tables_build(write_scenario):
    keras = pytest.importorskip("keras")
    layers = ",\n".join(
        [
            '{ type = "Rescaling", scale = 0.5, offset = 0.1 }',
            '{ type = "Normalization", mean = 0.5, variance = 0.25 }',
            '{ type = "Reshape", target_shape = [28, 28] }',
            '{ type = "LSTM", units = 4, kernel_initializer = "he_normal", '
            'recurrent_regularizer = { type = "L2", l2 = 0.001 } }',
            '{ type = "Dense", units = 8, activation = "gelu", kernel_initializer = '
            '{ type = "RandomNormal", stddev = 0.05, seed = 3 }, kernel_regularizer = "l2", '
            'bias_constraint = { type = "MaxNorm", max_value = 2 }, dtype = "float32" }',
            '{ type = "BatchNormalization", renorm = true, '
            "renorm_clipping = { rmax = 3.0, rmin = 0.3 } }",
            '{ type = "Discretization", bin_boundaries = [0.0, 1.0] }',
            '{ type = "CategoryEncoding", num_tokens = 3, output_mode = "multi_hot" }',
            '{ type = "Dense", units = 10, activation = "softmax" }',
        ]
    )
    model = check_scenario(load_scenario(write_scenario(scenario_text("mnist", layers, True))))
    dense = model["default"].get_layer("dense")
    assert isinstance(dense.kernel_initializer, keras.initializers.RandomNormal)
    assert dense.kernel_initializer.stddev == 0.05
    assert isinstance(dense.kernel_regularizer, keras.regularizers.L2)
    assert isinstance(dense.bias_constraint, keras.constraints.MaxNorm)
    lstm = model["default"].get_layer("lstm")
    assert isinstance(lstm.cell.recurrent_regularizer, keras.regularizers.L2)
