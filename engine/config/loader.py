"""Load YAML config files into validated, typed objects.

Every error names the file, the field path, the value received and what is allowed, so a
marketing team editing ``configs/rewards.yaml`` can fix a mistake without reading code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from engine.config.offers import OfferCatalog
from engine.config.policy import PolicyConfig
from engine.config.rewards import RewardConfig
from engine.config.simulator import SimulatorConfig
from engine.errors import ConfigError, RuleError

__all__ = [
    "CONFIG_DIR",
    "load_yaml_model",
    "load_catalog",
    "load_reward_config",
    "load_policy_config",
    "policy_config_path",
    "load_simulator_config",
]

ModelT = TypeVar("ModelT", bound=BaseModel)

# configs/ sits next to the engine package in the repository and in editable installs.
CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


def _field_path(location: tuple[Any, ...]) -> str:
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "<top level>"


def _allowed_fields(model: type[BaseModel], location: tuple[Any, ...]) -> list[str]:
    """Return the field names of the model at ``location`` inside ``model`` (empty when it is not a model)."""
    current: Any = model
    for part in location:
        if isinstance(part, int):
            continue  # an item of a list of models: the same model
        field = current.model_fields.get(part) if isinstance(current, type) and issubclass(current, BaseModel) else None
        if field is None:
            return []
        annotation = field.annotation
        arguments = getattr(annotation, "__args__", ())
        current = next((arg for arg in (annotation, *arguments) if isinstance(arg, type) and issubclass(arg, BaseModel)), None)
        if current is None:
            return []
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


def _describe(error: ValidationError, raw: Any, path: Path, model: type[BaseModel]) -> str:
    lines = []
    for item in error.errors()[:8]:
        location = tuple(part for part in item["loc"] if not (isinstance(part, str) and part.startswith("function-")))
        where = _field_path(location)
        offer_hint = ""
        if len(location) >= 2 and location[0] == "offers" and isinstance(location[1], int):
            try:
                offer_hint = f" (offer {raw['offers'][location[1]].get('id')!r})"
            except (KeyError, IndexError, TypeError, AttributeError):
                offer_hint = ""
        value = item.get("input")
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            allowed = _allowed_fields(model, location[:-1])
            if allowed:
                message = f"unknown field; allowed fields here: {', '.join(allowed)}"
        if isinstance(value, dict) and item["type"] == "value_error":
            # A check over the whole mapping: its message already names the values.
            lines.append(f"{path}: {where}{offer_hint}: {message}")
            continue
        shown = repr(value) if not isinstance(value, dict) else "a mapping"
        if len(shown) > 80:
            shown = shown[:77] + "..."
        lines.append(f"{path}: {where}{offer_hint}: {message} (got {shown})")
    return "\n".join(lines)


def _read_yaml(path: Path) -> Any:
    if not path.is_file():
        raise ConfigError(f"config file {path} not found; pass an existing YAML file (see configs/ for examples)")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: invalid YAML{where}: {getattr(err, 'problem', err)}") from err


def load_yaml_model(path: str | Path, model: type[ModelT]) -> ModelT:
    """Read ``path`` and validate it as ``model``.

    Raises:
        ConfigError: the file is missing, is not YAML, or fails validation.
    """
    path = Path(path)
    raw = _read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of fields; got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"invalid config:\n{_describe(err, raw, path, model)}") from err


def load_catalog(path: str | Path | None = None) -> OfferCatalog:
    """Load the offer catalog and compile every eligibility rule against the known features."""
    from engine.eligibility import RULE_FEATURE_NAMES
    from engine.rules import compile_rule

    path = Path(path) if path is not None else CONFIG_DIR / "offers.yaml"
    catalog = load_yaml_model(path, OfferCatalog)
    for index, offer in enumerate(catalog.offers):
        try:
            compile_rule(offer.eligibility, RULE_FEATURE_NAMES)
        except RuleError as err:
            raise ConfigError(f"{path}: offers[{index}].eligibility (offer {offer.id!r}): {err}") from err
    return catalog


def load_reward_config(path: str | Path | None = None) -> RewardConfig:
    """Load the reward config (default ``configs/rewards.yaml``)."""
    return load_yaml_model(Path(path) if path is not None else CONFIG_DIR / "rewards.yaml", RewardConfig)


def policy_config_path(name_or_path: str | Path) -> Path:
    """Resolve a policy name such as 'lints' to ``configs/policies/lints.yaml``; paths pass through."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        return candidate
    resolved = CONFIG_DIR / "policies" / f"{name_or_path}.yaml"
    if not resolved.is_file():
        known = sorted(p.stem for p in (CONFIG_DIR / "policies").glob("*.yaml"))
        raise ConfigError(f"policy {str(name_or_path)!r} not found; known policies: {', '.join(known)}, or pass a YAML path")
    return resolved


def load_policy_config(name_or_path: str | Path) -> PolicyConfig:
    """Load a policy config by name (``configs/policies/<name>.yaml``) or path."""
    from engine.features import FeatureEncoder

    path = policy_config_path(name_or_path)
    config = load_yaml_model(path, PolicyConfig)
    try:
        FeatureEncoder.from_names(config.features)
    except ConfigError as err:
        raise ConfigError(f"{path}: features: {err}") from err
    return config


def load_simulator_config(path: str | Path | None = None) -> SimulatorConfig:
    """Load the simulator config (default ``configs/simulator.yaml``)."""
    return load_yaml_model(Path(path) if path is not None else CONFIG_DIR / "simulator.yaml", SimulatorConfig)
