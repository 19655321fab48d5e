"""The scenario format: loading, variant merging, overrides and error messages."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT, toml_string
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tuilab.errors import ScenarioError
from tuilab.runtime.runner import plan_trials
from tuilab.scenario import load_scenario
from tuilab.scenario.loader import VARIANT_NAME
from tuilab.scenario.merge import deep_merge, parse_override
from tuilab.scenario.problems import shown
from tuilab.scenario.schema import FitConfig

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


def test_every_shipped_scenario_loads():
    for path in sorted((ROOT / "scenarios").glob("*.toml")):
        assert load_scenario(path).variants, path


FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


# --- names are case-sensitive, and shown exactly as written ---

TABLES = ["scenario", "data", "model", "compile", "fit", "run", "variants", "descent"]


def case_variant(names: list[str]) -> st.SearchStrategy[tuple[str, str]]:
    """(name, the name with some letters' case flipped), never the same."""

    def flip(name: str) -> st.SearchStrategy[tuple[str, str]]:
        flags = st.lists(st.booleans(), min_size=len(name), max_size=len(name))
        return flags.map(
            lambda f: (
                name,
                "".join(c.swapcase() if x else c for c, x in zip(name, f, strict=True)),
            )
        )

    return st.sampled_from(names).flatmap(flip).filter(lambda pair: pair[0] != pair[1])


@FUZZ
@given(pair=case_variant(TABLES))
def test_a_table_in_the_wrong_case_is_named_as_written(write_scenario, pair):
    name, written = pair
    text = f"[{written}.x]\nkey = 1\n" + BASE
    message = errors_of(write_scenario, text)
    hint = f"(did you mean {name!r}? names are case-sensitive)"
    assert f":1: {written}: unknown table {written!r} {hint}" in message


@FUZZ
@given(pair=case_variant(list(FitConfig.model_fields)))
def test_a_key_in_the_wrong_case_is_named_as_written(write_scenario, pair):
    name, written = pair
    inside = errors_of(write_scenario, BASE.replace("[fit]\n", f"[fit]\n{written} = 1\n"))
    assert f"fit.{written}: unknown key {written!r} (did you mean {name!r}?" in inside
    on_top = errors_of(write_scenario, f"{written} = 1\n" + BASE)
    assert f":1: {written}: unknown key {written!r} (did you mean 'fit.{name}'?" in on_top
    assert "names are case-sensitive" in inside and "names are case-sensitive" in on_top


def assert_printable(message: str) -> None:
    for line in message.splitlines():
        assert line.isprintable(), ascii(line)


@FUZZ
@given(key=st.text(max_size=80).filter(lambda k: k not in FitConfig.model_fields))
def test_an_unknown_key_is_shown_as_written_and_escaped(write_scenario, key):
    text = BASE.replace("[fit]\n", f"[fit]\n{toml_string(key)} = 1\n")
    message = errors_of(write_scenario, text)
    assert f"unknown key {shown(key)}" in message
    assert_printable(message)


def test_upper_case_keys_are_not_dropped_from_the_path(write_scenario):
    text = BASE.replace("fit.epochs = 3", "fit.Epochs = 3\nModel.layers = []")
    message = errors_of(write_scenario, text)
    assert ":35: variants.bn_05.fit.Epochs: unknown key 'Epochs' (did you mean 'epochs'?" in message
    assert ":36: variants.bn_05.Model: unknown key 'Model' (did you mean 'model'?" in message


# --- --set: scenario.* keys, and errors that name the --set item, not a line of the file ---


def test_set_scenario_keys(write_scenario):
    sets = ["scenario.seed=3", 'scenario.name="renamed"', "scenario.description=plain words"]
    scenario = load_scenario(write_scenario(BASE), sets)
    assert scenario.meta.seed == 3 and scenario.name == "renamed"
    assert scenario.meta.description == "plain words"
    without = BASE.replace('[scenario]\nname = "BatchNorm momentum on MNIST"\nseed = 7\n', "")
    assert load_scenario(write_scenario(without), ["scenario.seed=11"]).meta.seed == 11


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (
            "fit.epochs=two",
            "--set fit.epochs=two: fit.epochs: should be a valid integer, got 'two'",
        ),
        ("fit.epochs=0", "--set fit.epochs=0: fit.epochs: should be greater than or equal to 1"),
        ("scenario.seed=-1", "--set scenario.seed=-1: scenario.seed: should be greater than"),
        ("scenario.sed=1", "--set scenario.sed=1: scenario.sed: unknown key 'sed' (did you mean"),
        ("fitt.epochs=2", "--set fitt.epochs=2: fitt: unknown key 'fitt' (did you mean 'fit'?)"),
        ("data.normalize=scael", "--set data.normalize=scael: data.normalize: should be 'none'"),
        (
            "variants.bn_05.fit.epochs=x",
            "--set variants.bn_05.fit.epochs=x: variants.bn_05.fit.epochs: should be a valid int",
        ),
        (
            "variants.bn_5.fit.epochs=2",
            "--set variants.bn_5.fit.epochs=2: variants.bn_5: no variant named 'bn_5' "
            "(did you mean 'bn_05'?)",
        ),
        ("variants.plain=5", "--set variants.plain=5: variants.plain: must be a table"),
        ("model.layers[0].units=3", "--set model.layers[0].units=3: key part 'layers[0]' is not"),
        ("fit.epochs", "--set fit.epochs: expects key=value"),
        ("fit..epochs=2", "--set fit..epochs=2: key part '' is not a plain key"),
        ("fit.epochs=\x1b[2J", "--set 'fit.epochs=\\x1b[2J': fit.epochs: should be a valid int"),
    ],
)
def test_set_errors_name_the_set_not_a_line(write_scenario, item, expected):
    path = write_scenario(BASE)
    message = errors_of(write_scenario, BASE, [item])
    lines = message.splitlines()
    assert any(expected in line for line in lines), message
    assert all(line.startswith(f"{path}: --set ") for line in lines), message
    assert_printable(message)


def test_a_set_over_a_variants_own_value_is_blamed_on_the_set(write_scenario):
    message = errors_of(write_scenario, BASE, ["fit.epochs=0"])  # bn_05 sets fit.epochs = 3
    assert message.splitlines() == [
        f"{write_scenario(BASE)}: --set fit.epochs=0: fit.epochs: should be greater than or "
        "equal to 1, got 0"
    ]


def test_a_set_does_not_hide_the_files_own_error(write_scenario):
    text = "scenario = 5\n" + BASE.replace('[scenario]\nname = "BatchNorm momentum on MNIST"', "")
    text = text.replace("seed = 7\n", "", 1)
    message = errors_of(write_scenario, text, ["scenario.seed=3"])
    assert message.endswith(":1: scenario: should be a valid dictionary, got 5"), message


SET_KEYS = ["fit.epochs", "fit.batch_size", "data.normalize", "scenario.seed", "run.repeats"]


@FUZZ
@given(
    key=st.sampled_from(SET_KEYS),
    value=st.one_of(
        st.text(max_size=10).filter(lambda v: "\n" not in v and "\r" not in v),
        st.sampled_from(["-1", "0", "1e9", "[1]", "{a = 1}", "true", "nan", '"x"']),
    ),
)
def test_any_bad_set_value_is_reported_at_the_set(write_scenario, key, value):
    path = write_scenario(BASE)
    try:
        load_scenario(path, [f"{key}={value}"])
    except ScenarioError as exc:
        for line in str(exc).splitlines():
            assert line.startswith(f"{path}: --set "), line
            assert re.search(rf"{re.escape(key)}: ", line), line
        assert_printable(str(exc))


# --- variant names: letters, digits, '_' and '-', so trial and folder names never collide ---

NAMES = st.one_of(st.from_regex(VARIANT_NAME, fullmatch=True), st.text(max_size=70))


@FUZZ
@given(name=NAMES)
def test_variant_names_are_plain_or_refused_with_the_name_escaped(write_scenario, name):
    text = BASE.split("[variants.plain]")[0] + f"[variants.{toml_string(name)}]\n"
    try:
        scenario = load_scenario(write_scenario(text))
    except ScenarioError as exc:
        assert not VARIANT_NAME.fullmatch(name)
        message = str(exc)
        assert f"variant name {ascii(name)[:40]}" in message
        assert "is not allowed: use 1 to 64 letters (A-Z, a-z), digits, '_' or '-'" in message
        assert_printable(message)
    else:
        assert VARIANT_NAME.fullmatch(name) and list(scenario.variants) == [name]


@FUZZ
@given(
    names=st.lists(
        st.from_regex(r"[a-z][a-z0-9]{0,3}(\.r[1-3])?", fullmatch=True), min_size=1, max_size=5
    ),
    repeats=st.integers(1, 3),
)
def test_trial_names_are_unique_by_construction(write_scenario, names, repeats):
    assume(len({n.lower() for n in names}) == len(names))
    text = BASE.split("[variants.plain]")[0] + f"[run]\nrepeats = {repeats}\n"
    text += "".join(f"[variants.{toml_string(n)}]\n" for n in names)
    try:
        scenario = load_scenario(write_scenario(text))
    except ScenarioError as exc:
        assert any("." in n for n in names)
        assert "is not allowed" in str(exc)
        return
    trials = [trial.name for trial in plan_trials(scenario)]
    assert len(trials) == len(set(trials)) == len(names) * repeats


def test_a_dotted_variant_beside_its_stem_is_refused(write_scenario):
    text = BASE.split("[variants.plain]")[0] + "[run]\nrepeats = 2\n[variants.adam]\n"
    message = errors_of(write_scenario, text + '[variants."adam.r2"]\n')
    assert "variant name 'adam.r2' is not allowed" in message
    assert "a dot would clash with repeat names such as adam.r2" in message
    message = errors_of(write_scenario, text + "[variants.Adam]\n")
    assert "variant names 'adam' and 'Adam' differ only in case" in message
