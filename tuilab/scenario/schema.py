"""Pydantic models of one resolved scenario variant (the TOML format's contract)."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tuilab.scenario.bounds import MAX_DATA_VALUES, MAX_PARALLEL, MAX_REPEATS, MAX_SAMPLE_VALUES

DATASETS = ("mnist", "fashion_mnist", "cifar10", "digits", "synthetic")
NORMALIZATIONS = ("none", "scale", "center", "standardize")


class Strict(BaseModel):
    """Base: unknown keys are errors, no type coercion (`true` is not 1), immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ScenarioMeta(Strict):
    """The `[scenario]` table."""

    name: str = ""
    description: str = ""
    seed: int = Field(default=42, ge=0, le=2**31 - 1)


class SyntheticData(Strict):
    """Shape of random learnable data for `dataset = "synthetic"`."""

    shape: list[int] = Field(default=[8, 8, 1], min_length=1, max_length=4)
    classes: int = Field(default=10, ge=2, le=1000)
    samples: int = Field(default=2000, ge=10, le=10_000_000)
    test_samples: int = Field(default=500, ge=1, le=10_000_000)
    noise: float = Field(default=1.0, ge=0.0)

    @field_validator("shape")
    @classmethod
    def _positive(cls, shape: list[int]) -> list[int]:
        if any(d < 1 for d in shape):
            raise ValueError("every dimension must be at least 1")
        if math.prod(shape) > MAX_SAMPLE_VALUES:
            raise ValueError(
                f"makes samples of {math.prod(shape):,} values; at most {MAX_SAMPLE_VALUES:,}"
            )
        return shape

    @model_validator(mode="after")
    def _fits(self) -> SyntheticData:
        """The arrays `make_synthetic` would allocate, refused before any is (`data_values`)."""
        if self.data_values > MAX_DATA_VALUES:
            raise ValueError(
                f"makes {self.data_values:,} values ((samples + test_samples + classes) x "
                f"{math.prod(self.shape):,} values a sample); at most {MAX_DATA_VALUES:,} "
                f"({MAX_DATA_VALUES * 4 // 2**30} GiB as float32)"
            )
        return self

    @property
    def data_values(self) -> int:
        """Values of the training, test and prototype arrays together."""
        return (self.samples + self.test_samples + self.classes) * math.prod(self.shape)


class DataConfig(Strict):
    """The `[data]` table: which dataset, how to split and preprocess it."""

    dataset: Literal["mnist", "fashion_mnist", "cifar10", "digits", "synthetic"] = "digits"
    normalize: Literal["none", "scale", "center", "standardize"] = "none"
    stats: Literal["global", "channel", "feature"] = "global"
    flatten: bool = False
    validation_split: float | None = Field(default=None, gt=0.0, lt=1.0)
    validation: Literal["test", "none"] | None = None
    validation_first: int | None = Field(default=None, ge=1)
    path: str | None = None
    limit: int | None = Field(default=None, ge=10)
    synthetic: SyntheticData | None = None
    shuffle_buffer: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_validation_rule(self) -> DataConfig:
        given = [
            k
            for k in ("validation_split", "validation", "validation_first")
            if getattr(self, k) is not None
        ]
        if len(given) > 1:
            raise ValueError(
                f"choose one of validation_split, validation, validation_first (got {given})"
            )
        if self.synthetic is not None and self.dataset != "synthetic":
            raise ValueError('[data.synthetic] only applies to dataset = "synthetic"')
        return self


class BatchNormPlacement(BaseModel):
    """`model.batchnorm` or a layer's `batchnorm`: where, plus BatchNormalization arguments."""

    model_config = ConfigDict(extra="allow", frozen=True)

    position: Literal["after", "before"] = "after"

    @property
    def layer_args(self) -> dict[str, Any]:
        """The BatchNormalization constructor arguments given beside `position`."""
        return dict(self.model_extra or {})


class ModelConfig(Strict):
    """The `[model]` table: a list of Keras layers and an optional BatchNorm placement."""

    layers: list[dict[str, Any]] = Field(min_length=1)
    batchnorm: BatchNormPlacement | Literal[False] | None = None

    @field_validator("layers")
    @classmethod
    def _typed(cls, layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for index, layer in enumerate(layers):
            if not isinstance(layer.get("type"), str):
                raise ValueError(
                    f"layer {index} needs a `type`, the Keras class name "
                    '(for example { type = "Dense", units = 10 })'
                )
        return layers


ClassSpec = dict[str, Any]
"""A `{ type = "KerasClass", arg = value }` table."""


def require_type(spec: str | ClassSpec, example: str) -> str | ClassSpec:
    """A class table must name its Keras class in `type`."""
    if isinstance(spec, dict) and not isinstance(spec.get("type"), str):
        raise ValueError(
            f"a table here needs a `type`, the Keras class name (for example {example})"
        )
    return spec


class CompileConfig(Strict):
    """The `[compile]` table: `model.compile` arguments."""

    optimizer: str | ClassSpec = "adam"
    loss: str | ClassSpec = "sparse_categorical_crossentropy"
    metrics: list[str | ClassSpec] = Field(default_factory=lambda: ["accuracy"])

    @field_validator("optimizer")
    @classmethod
    def _optimizer_typed(cls, spec: str | ClassSpec) -> str | ClassSpec:
        return require_type(spec, '{ type = "SGD", learning_rate = 0.01 }')

    @field_validator("loss")
    @classmethod
    def _loss_typed(cls, spec: str | ClassSpec) -> str | ClassSpec:
        return require_type(spec, '{ type = "SparseCategoricalCrossentropy", from_logits = true }')

    @field_validator("metrics")
    @classmethod
    def _metrics_typed(cls, specs: list[str | ClassSpec]) -> list[str | ClassSpec]:
        return [require_type(spec, '{ type = "F1Score" }') for spec in specs]


class FitConfig(Strict):
    """The `[fit]` table: `model.fit` settings and speed options."""

    epochs: int = Field(default=10, ge=1, le=100_000)
    batch_size: int = Field(default=32, ge=1, le=1_000_000)
    shuffle: bool = True
    steps_per_execution: Annotated[int, Field(ge=1, le=100_000)] | Literal["auto"] = "auto"
    jit_compile: bool | Literal["auto"] = "auto"
    mixed_precision: bool = False


class RunConfig(Strict):
    """The `[run]` table: repeats, distribution, how many trials train at once where, backend."""

    repeats: int = Field(default=1, ge=1, le=MAX_REPEATS)
    strategy: Literal["auto", "default", "mirrored", "multi_worker"] = "auto"
    devices: list[str] | None = None
    save_model: bool = True
    parallel: Annotated[int, Field(ge=1, le=MAX_PARALLEL)] | Literal["auto"] = 1
    """Trials training at once, each in a process of its own ("auto": one per visible GPU)."""
    executor: Literal["local", "ray"] = "local"
    """Where those processes run: this machine, or a Ray cluster (`RAY_ADDRESS`)."""
    backend: Literal["tensorflow", "jax", "torch"] | None = None
    """The Keras backend (one per run); unset: `KERAS_BACKEND`, Keras's config, else TensorFlow."""


class VariantConfig(Strict):
    """Everything needed to train one variant: the base merged with the variant's overrides."""

    description: str = ""
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig
    compile: CompileConfig = Field(default_factory=CompileConfig)
    fit: FitConfig = Field(default_factory=FitConfig)
    callbacks: list[dict[str, Any]] = Field(default_factory=list)
    run: RunConfig = Field(default_factory=RunConfig)

    @field_validator("callbacks")
    @classmethod
    def _typed(cls, callbacks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for index, callback in enumerate(callbacks):
            if not isinstance(callback.get("type"), str):
                raise ValueError(
                    f"callback {index} needs a `type`, the Keras class name "
                    '(for example type = "EarlyStopping")'
                )
        return callbacks
