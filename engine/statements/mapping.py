"""How to read one bank's CSV export: :class:`CsvMapping`, and the named mappings shipped in
``configs/statements/csv_mappings.yaml``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engine.errors import ConfigError, StatementError
from engine.events import format_validation_error

__all__ = ["Column", "CsvMapping", "MAPPINGS_PATH", "load_csv_mappings", "load_mapping_file"]

MAPPINGS_PATH: Path = Path(__file__).resolve().parents[2] / "configs" / "statements" / "csv_mappings.yaml"

# A column is named by its header text or, for files without a header, by 0-based index.
Column = Union[str, int]


class CsvMapping(BaseModel):
    """Where the date, amount, text and currency of a transaction are in a CSV export.

    Amounts come from ``amount_column`` (signed; set ``negate_amounts`` for card exports
    that show purchases as positive numbers, or ``credit_indicator_column`` when a
    separate column such as "CR" or "credit"/"debit" carries the sign), or from separate
    ``debit_column`` and ``credit_column`` holding unsigned values. The currency comes from
    ``currency_column`` when the file has one, else ``default_currency``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "custom"
    header: tuple[str, ...] = Field(default=(), description="The export's header row, for automatic matching.")
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    quotechar: str = Field(default='"', min_length=1, max_length=1)
    encoding: str = "utf-8-sig"
    skip_rows: int = Field(default=0, ge=0, description="Rows before the header row (or before the data).")
    has_header: bool = True
    date_column: Column
    date_format: tuple[str, ...] = Field(default=(), description="strptime formats, tried in order.")
    dayfirst: bool = Field(default=False, description="For dateutil when no date_format is given: 03/04 is 3 April.")
    amount_column: Column | None = None
    debit_column: Column | None = None
    credit_column: Column | None = None
    negate_amounts: bool = False
    credit_indicator_column: Column | None = None
    credit_indicator_values: tuple[str, ...] = ("CR", "C", "credit")
    debit_indicator_values: tuple[str, ...] = Field(
        default=(), description="When set, an indicator in neither list is a row error."
    )
    decimal_separator: Literal[".", ","] = "."
    thousands_separator: Literal["", ",", ".", " ", "'"] = ""
    description_column: Column | None = None
    payee_column: Column | None = None
    memo_column: Column | None = None
    currency_column: Column | None = None
    default_currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    category_column: Column | None = None
    account_column: Column | None = None
    id_column: Column | None = Field(default=None, description="The bank's unique transaction id, if exported.")
    balance_column: Column | None = None

    @field_validator("date_format", "header", "credit_indicator_values", "debit_indicator_values", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check(self) -> "CsvMapping":
        split = self.debit_column is not None or self.credit_column is not None
        if self.amount_column is None and not split:
            raise ValueError("give amount_column, or debit_column and credit_column")
        if self.amount_column is not None and split:
            raise ValueError("give either amount_column or debit_column/credit_column, not both")
        if split and (self.debit_column is None or self.credit_column is None):
            raise ValueError("debit_column and credit_column go together")
        if self.decimal_separator == self.thousands_separator:
            raise ValueError("decimal_separator and thousands_separator must differ")
        if self.description_column is None and self.payee_column is None and self.memo_column is None:
            raise ValueError("give at least one of description_column, payee_column, memo_column")
        if self.currency_column is None and self.default_currency is None:
            raise ValueError("the file has no currency_column, so give default_currency (ISO 4217, e.g. EUR)")
        if not self.has_header:
            named = [c for c in self.columns() if isinstance(c, str)]
            if named:
                raise ValueError(f"has_header is false, so columns must be 0-based indices; got names {named}")
        return self

    def columns(self) -> list[Column]:
        """Return every column this mapping reads."""
        fields = (
            self.date_column,
            self.amount_column,
            self.debit_column,
            self.credit_column,
            self.credit_indicator_column,
            self.description_column,
            self.payee_column,
            self.memo_column,
            self.currency_column,
            self.category_column,
            self.account_column,
            self.id_column,
            self.balance_column,
        )
        return [c for c in fields if c is not None]


def normalise_header(cells: list[str]) -> tuple[str, ...]:
    """Strip cells and BOMs and drop trailing empty cells."""
    out = [c.replace("\ufeff", "").strip() for c in cells]
    while out and not out[-1]:
        out.pop()
    return tuple(out)


def _parse_mappings(raw: Any, source: str) -> dict[str, CsvMapping]:
    if not isinstance(raw, dict) or not isinstance(raw.get("mappings"), dict):
        raise ConfigError(f"{source}: expected a 'mappings:' section of named CSV mappings")
    out = {}
    for name, spec in raw["mappings"].items():
        if not isinstance(spec, dict):
            raise ConfigError(f"{source}: mapping {name!r} must be a mapping of fields")
        try:
            out[str(name)] = CsvMapping.model_validate({"name": str(name), **spec})
        except ValidationError as err:
            raise ConfigError(f"{source}: mapping {name!r} is invalid: {format_validation_error(err)}") from err
    return out


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"cannot read CSV mapping file {path}: {err}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"CSV mapping file {path} is not valid YAML: {err}") from err


@functools.lru_cache(maxsize=4)
def load_csv_mappings(path: str | Path | None = None) -> dict[str, CsvMapping]:
    """Load the named mappings of ``configs/statements/csv_mappings.yaml`` (or ``path``)."""
    target = Path(path) if path is not None else MAPPINGS_PATH
    return _parse_mappings(_read_yaml(target), str(target))


def load_mapping_file(path: str | Path) -> dict[str, CsvMapping]:
    """Mappings from a caller's YAML file: a 'mappings:' set, or the fields of one mapping."""
    target = Path(path)
    raw = _read_yaml(target)
    if isinstance(raw, dict) and "mappings" in raw:
        return _parse_mappings(raw, str(target))
    if not isinstance(raw, dict):
        raise ConfigError(f"{target}: expected the fields of a CSV mapping or a 'mappings:' section")
    try:
        mapping = CsvMapping.model_validate({"name": target.stem, **raw})
    except ValidationError as err:
        raise ConfigError(f"{target}: invalid CSV mapping: {format_validation_error(err)}") from err
    return {mapping.name: mapping}


def header_matches(mapping: CsvMapping, header: tuple[str, ...]) -> float:
    """Score how well ``header`` fits ``mapping``: 0 when a column it reads is missing,
    else the overlap of the declared header with the file's (1.0 = the same columns)."""
    lowered = [h.casefold() for h in header]
    for column in mapping.columns():
        if isinstance(column, str) and column.casefold() not in lowered:
            return 0.0
        if isinstance(column, int) and column >= max(len(header), 1) + 1:
            return 0.0
    if not mapping.header:
        return 0.01
    declared = {h.casefold() for h in mapping.header}
    found = set(lowered) - {""}
    return len(declared & found) / len(declared | found)


def describe_mapping_help() -> str:
    return (
        "pass --csv-mapping FILE on the command line (a YAML file with date_column, amount_column, "
        "description_column and default_currency), csv_mapping=CsvMapping(...) in Python, or add a named "
        f"mapping to {MAPPINGS_PATH.relative_to(MAPPINGS_PATH.parents[2])}"
    )


def unknown_header_error(header: tuple[str, ...], candidates: list[str] | None = None) -> StatementError:
    shown = ", ".join(repr(h) for h in header) if header else "(empty)"
    extra = f" (several mappings fit equally: {', '.join(candidates)})" if candidates else ""
    return StatementError(f"no CSV mapping matches the header [{shown}]{extra}; {describe_mapping_help()}")
