"""The scenario format: loading, variant merging, overrides and error messages."""

from __future__ import annotations

import pytest

from tuilab.errors import ScenarioError
from tuilab.scenario import load_scenario
from tuilab.scenario.merge import deep_merge, parse_override

BASE = """
[scenario]
name = "BatchNorm momentum on MNIST"
seed = 7

[data]
dataset = "mnist"
normalize = "scale"
flatten = true
validation_split = 0.3

[model]
layers = [
  { type = "Dense", units = 40, activation = "relu" },
  { type = "Dense", units = 10, activation = "softmax" },
]

[compile]
optimizer = "adam"

[fit]
epochs = 20
batch_size = 50

[[callbacks]]
type = "ReduceLROnPlateau"
patience = 2
factor = 0.5

[variants.plain]
[variants.bn_099]
model.batchnorm = { position = "after", momentum = 0.99 }
[variants.bn_05]
model.batchnorm = { position = "after", momentum = 0.5 }
fit.epochs = 3
"""


def test_variants_are_merged_over_the_base(write_scenario):
    scenario = load_scenario(write_scenario(BASE))
    assert list(scenario.variants) == ["plain", "bn_099", "bn_05"]
    assert scenario.variants["plain"].model.batchnorm is None
    assert scenario.variants["bn_05"].model.batchnorm.layer_args == {"momentum": 0.5}
    assert scenario.variants["bn_05"].fit.epochs == 3
    assert scenario.variants["bn_05"].fit.batch_size == 50  # tables merge
    assert scenario.variants["plain"].fit.epochs == 20
    assert scenario.meta.seed == 7
    assert scenario.name == "BatchNorm momentum on MNIST"


def test_a_scenario_without_variants_has_one(write_scenario):
    text = BASE.split("[variants.plain]")[0]
    scenario = load_scenario(write_scenario(text))
    assert list(scenario.variants) == ["default"]


def test_lists_are_replaced_whole(write_scenario):
    text = (
        BASE
        + """
[variants.tiny]
model.layers = [{ type = "Dense", units = 10, activation = "softmax" }]
"""
    )
    scenario = load_scenario(write_scenario(text))
    assert len(scenario.variants["tiny"].model.layers) == 1
    assert len(scenario.variants["plain"].model.layers) == 2


def test_set_overrides_win_over_variants(write_scenario):
    scenario = load_scenario(
        write_scenario(BASE), ["fit.epochs=2", "data.limit=2000", "compile.optimizer=sgd"]
    )
    assert {v.fit.epochs for v in scenario.variants.values()} == {2}
    assert scenario.variants["plain"].data.limit == 2000
    assert scenario.variants["plain"].compile.optimizer == "sgd"


def test_set_can_target_one_variant(write_scenario):
    scenario = load_scenario(write_scenario(BASE), ["variants.bn_05.model.batchnorm.momentum=0.3"])
    assert scenario.variants["bn_05"].model.batchnorm.layer_args == {"momentum": 0.3}
    assert scenario.variants["bn_099"].model.batchnorm.layer_args == {"momentum": 0.99}


def test_select_keeps_only_named_variants(write_scenario):
    scenario = load_scenario(write_scenario(BASE)).select(["bn_05"])
    assert list(scenario.variants) == ["bn_05"]
    with pytest.raises(ScenarioError, match="did you mean 'bn_05'"):
        load_scenario(write_scenario(BASE)).select(["bn_5"])


def test_deep_merge_and_override_parsing():
    assert deep_merge({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}}) == {"a": {"b": 1, "c": 3}}
    assert deep_merge({"a": [1, 2]}, {"a": [3]}) == {"a": [3]}
    assert parse_override("fit.epochs=2") == (["fit", "epochs"], 2)
    assert parse_override("a.b = [1, 2]") == (["a", "b"], [1, 2])
    assert parse_override("compile.optimizer=adam") == (["compile", "optimizer"], "adam")
    with pytest.raises(ValueError, match="key=value"):
        parse_override("fit.epochs")


def errors_of(write_scenario, text: str, overrides: list[str] | None = None) -> str:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write_scenario(text), overrides)
    return str(caught.value)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ('normalize = "scale"', 'normalize = "scael"'),
            ":8: data.normalize: should be 'none', 'scale', 'center' or 'standardize', got 'scael' "
            "(did you mean 'scale'?)",
        ),
        (
            ("epochs = 20", "epochs = 0"),
            ":22: fit.epochs: should be greater than or equal to 1, got 0",
        ),
        (
            ("validation_split = 0.3", "validation_split = 1.5"),
            ":10: data.validation_split: should be less than 1, got 1.5",
        ),
        (("[fit]", "[fitt]"), ":21: fitt: unknown table 'fitt' (did you mean 'fit'?)"),
        (
            ("batch_size = 50", "batch_sise = 50"),
            ":23: fit.batch_sise: unknown key 'batch_sise' (did you mean 'batch_size'?)",
        ),
        (
            ('position = "after", momentum = 0.5', 'position = "middle"'),
            ":34: variants.bn_05.model.batchnorm.position: should be 'after' or 'before', "
            "got 'middle'",
        ),
        (
            ("fit.epochs = 3", 'fit.epochs = "three"'),
            ":35: variants.bn_05.fit.epochs: should be a valid integer",
        ),
        (
            ('optimizer = "adam"', "optimizer = 5"),
            ":19: compile.optimizer: should be a valid string or a valid dictionary, got 5",
        ),
        (('dataset = "mnist"', 'dataset = "imagenet"'), ":7: data.dataset: should be 'mnist'"),
    ],
)
def test_invalid_values_name_file_line_key_and_fix(write_scenario, change, expected):
    text = BASE.replace(*change)
    assert text != BASE
    message = errors_of(write_scenario, text)
    assert expected in message
    assert message.startswith(str(write_scenario(text)))


def test_toml_syntax_error_has_its_line(write_scenario):
    message = errors_of(write_scenario, BASE.replace("epochs = 20", "epochs = = 20"))
    assert ":22: TOML syntax error" in message


def test_non_utf8_and_huge_files(tmp_path):
    bad = tmp_path / "latin1.toml"
    bad.write_bytes('[scenario]\nname = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ScenarioError, match=r":2: is not UTF-8 text .*save the file as UTF-8"):
        load_scenario(bad)
    huge = tmp_path / "huge.toml"
    huge.write_bytes(b"# " + b"x" * 2_000_000)
    with pytest.raises(ScenarioError, match="a scenario file is at most"):
        load_scenario(huge)


def test_missing_file_and_bad_variant_names(write_scenario, tmp_path):
    with pytest.raises(ScenarioError, match="file not found"):
        load_scenario(tmp_path / "nope.toml")
    text = BASE + '\n[variants."../escape"]\n'
    assert "variant name '../escape' is not allowed: use 1 to 64 letters" in errors_of(
        write_scenario, text
    )


def test_empty_layer_list_and_missing_type(write_scenario):
    text = BASE.replace(
        """layers = [
  { type = "Dense", units = 40, activation = "relu" },
  { type = "Dense", units = 10, activation = "softmax" },
]""",
        "layers = []",
    )
    assert "model.layers: List should have at least 1 item" in errors_of(write_scenario, text)
    text = BASE.replace('{ type = "Dense", units = 40', '{ kind = "Dense", units = 40')
    assert "layer 0 needs a `type`" in errors_of(write_scenario, text)


def test_every_problem_is_reported_at_once(write_scenario):
    text = BASE.replace("epochs = 20", "epochs = 0").replace("batch_size = 50", "batch_size = -5")
    message = errors_of(write_scenario, text)
    assert "fit.epochs" in message and "fit.batch_size" in message


def test_choose_one_validation_rule(write_scenario):
    text = BASE.replace("validation_split = 0.3", 'validation_split = 0.3\nvalidation = "test"')
    assert "choose one of validation_split" in errors_of(write_scenario, text)
