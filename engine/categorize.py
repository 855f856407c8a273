"""Transaction categoriser: merchant-name normalisation and rule-based categories.

``categorize`` returns one of :data:`engine.categories.CATEGORIES`: a spend category for
money leaving the account (amount <= 0) and an income category for money arriving
(amount > 0). The rules live in ``configs/categories.yaml`` (keywords in several languages,
brand names, MCC codes and ranges) and are loaded once into a typed
:class:`CategoryRules`; card merchant category codes are read through the ISO 18245 table
shipped as ``engine/data/mcc_codes.csv``.

Example:
    >>> from decimal import Decimal
    >>> categorize("NETFLIX.COM 14087249160, NL", amount=Decimal("-7.99"))
    'subscriptions'
    >>> normalize_merchant("BEA   NR:XXX1234   22.05.11/14.25 MC DONALDS A44 LEIDEN,PAS999")
    'Mc Donalds A44'
"""

from __future__ import annotations

import csv
import functools
import re
import unicodedata
from decimal import Decimal
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engine.categories import INCOME_CATEGORIES, SPEND_CATEGORIES
from engine.errors import ConfigError

__all__ = [
    "CONFIG_DIR",
    "DATA_DIR",
    "CategoryRules",
    "categorize",
    "load_category_rules",
    "load_mcc_table",
    "mcc_category",
    "is_payment_processor",
    "normalize_merchant",
]

# configs/ lives at the repository root, next to the engine package.
CONFIG_DIR: Path = Path(__file__).resolve().parents[1] / "configs"
DATA_DIR: Path = Path(__file__).resolve().parent / "data"
DEFAULT_RULES_PATH: Path = CONFIG_DIR / "categories.yaml"
MCC_TABLE_PATH: Path = DATA_DIR / "mcc_codes.csv"


def fold(text: str) -> str:
    """Lower-case, strip accents and reduce to words separated by single spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    # Letters that NFKD does not decompose.
    stripped = stripped.replace("ß", "ss").replace("ø", "o").replace("æ", "ae").replace("œ", "oe").replace("ł", "l")
    words = " ".join(re.findall(r"[a-z0-9]+", stripped.casefold()))
    # "999PN0920WECHSEL" -> "999 pn 0920 wechsel": letters and digits are separate words.
    return re.sub(r"(?<=[a-z])(?=[0-9])|(?<=[0-9])(?=[a-z])", " ", words)


def _keyword_pattern(keyword: str) -> str:
    """Regex (over folded text) for one keyword; '*' at either end matches a word part."""
    raw = keyword.strip()
    head = raw.startswith("*")
    tail = raw.endswith("*")
    core = fold(raw.strip("*"))
    if not core:
        raise ValueError(f"keyword {keyword!r} has no letters or digits")
    body = re.escape(core)
    left = r"(?<![a-z0-9])" + (r"[a-z0-9]*" if head else "")
    right = (r"[a-z0-9]*" if tail else "") + r"(?![a-z0-9])"
    return left + body + right


Rules = tuple[tuple[str, tuple[str, ...]], ...]


def _as_rules(value: object) -> object:
    """Accept {category: [keywords]} or a list of one-key mappings (a category may repeat)."""
    if isinstance(value, dict):
        return tuple((str(k), tuple(v or ())) for k, v in value.items())
    if isinstance(value, list):
        pairs = []
        for item in value:
            if not isinstance(item, dict) or len(item) != 1:
                raise ValueError(f"each rule must be a one-key mapping category: [keywords]; got {item!r}")
            ((category, keywords),) = item.items()
            pairs.append((str(category), tuple(keywords or ())))
        return tuple(pairs)
    return value


def _compile(rules: Rules) -> list[tuple[str, re.Pattern[str]]]:
    return [
        (category, re.compile("|".join(_keyword_pattern(k) for k in keywords)))
        for category, keywords in rules
        if keywords
    ]


def _check_categories(rules: Rules, allowed: tuple[str, ...], side: str) -> None:
    for category, _ in rules:
        if category not in allowed:
            raise ValueError(f"{side} rule category {category!r} is not one of {', '.join(allowed)}")


class SpendRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    merchants: Rules = ()
    keywords: Rules = ()
    fallback: str = "other"

    @field_validator("merchants", "keywords", mode="before")
    @classmethod
    def _pairs(cls, value: object) -> object:
        return _as_rules(value)

    @model_validator(mode="after")
    def _check(self) -> "SpendRules":
        _check_categories(self.merchants, SPEND_CATEGORIES, "spend")
        _check_categories(self.keywords, SPEND_CATEGORIES, "spend")
        if self.fallback not in SPEND_CATEGORIES:
            raise ValueError(f"spend fallback {self.fallback!r} is not a spend category")
        return self


class IncomeRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    keywords: Rules = ()
    mcc_credit: str = "refund"
    fallback: str = "transfers_in"

    @field_validator("keywords", mode="before")
    @classmethod
    def _pairs(cls, value: object) -> object:
        return _as_rules(value)

    @model_validator(mode="after")
    def _check(self) -> "IncomeRules":
        _check_categories(self.keywords, INCOME_CATEGORIES, "income")
        for name in (self.mcc_credit, self.fallback):
            if name not in INCOME_CATEGORIES:
                raise ValueError(f"income category {name!r} is not one of {', '.join(INCOME_CATEGORIES)}")
        return self


class MccRange(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    start: int = Field(alias="from", ge=0, le=9999)
    end: int = Field(alias="to", ge=0, le=9999)
    category: str

    @field_validator("category")
    @classmethod
    def _spend(cls, value: str) -> str:
        if value not in SPEND_CATEGORIES:
            raise ValueError(f"MCC category {value!r} is not a spend category")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> "MccRange":
        if self.start > self.end:
            raise ValueError(f"MCC range {self.start}-{self.end} runs backwards")
        return self


class MccRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    codes: dict[str, str] = Field(default_factory=dict)
    ranges: tuple[MccRange, ...] = ()

    @field_validator("codes")
    @classmethod
    def _codes(cls, value: dict[str, str]) -> dict[str, str]:
        out = {}
        for code, category in value.items():
            if not re.fullmatch(r"\d{3,4}", str(code)):
                raise ValueError(f"MCC {code!r} is not 3 or 4 digits")
            if category not in SPEND_CATEGORIES:
                raise ValueError(f"MCC {code} category {category!r} is not a spend category")
            out[str(code).zfill(4)] = category
        return out


class MerchantNoise(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    prefixes: tuple[str, ...] = ()
    processors: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    cities: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()


class CategoryRules(BaseModel):
    """The parsed ``configs/categories.yaml``; build once with :func:`load_category_rules`."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    version: int = 1
    spend: SpendRules
    income: IncomeRules
    mcc: MccRules = MccRules()
    merchant_noise: MerchantNoise = MerchantNoise()

    @functools.cached_property
    def _spend_merchants(self) -> list[tuple[str, re.Pattern[str]]]:
        return _compile(self.spend.merchants)

    @functools.cached_property
    def _spend_keywords(self) -> list[tuple[str, re.Pattern[str]]]:
        return _compile(self.spend.keywords)

    @functools.cached_property
    def _income_keywords(self) -> list[tuple[str, re.Pattern[str]]]:
        return _compile(self.income.keywords)

    @functools.cached_property
    def _noise(self) -> dict[str, re.Pattern[str]]:
        noise = self.merchant_noise

        def alternation(items: tuple[str, ...]) -> str:
            folded = sorted({fold(item) for item in items if fold(item)}, key=len, reverse=True)
            return "|".join(re.escape(item) for item in folded) or r"(?!x)x"

        return {
            "processor": re.compile(rf"^(?:{alternation(noise.processors)})(?![a-z0-9])"),
            "prefix": re.compile(rf"^(?:(?:{alternation(noise.prefixes)})(?: |$))+"),
            "words": re.compile(rf"(?<![a-z0-9])(?:{alternation(noise.words)})(?![a-z0-9])"),
            "suffix": re.compile(rf"(?: (?:{alternation(noise.cities)}|{alternation(noise.countries)}))+$"),
        }

    def match_spend_merchant(self, text: str) -> str | None:
        return _first_match(self._spend_merchants, text)

    def match_spend_keyword(self, text: str) -> str | None:
        return _first_match(self._spend_keywords, text)

    def match_income_keyword(self, text: str) -> str | None:
        return _first_match(self._income_keywords, text)


def _first_match(table: list[tuple[str, re.Pattern[str]]], text: str) -> str | None:
    for category, pattern in table:
        if pattern.search(text):
            return category
    return None


@functools.lru_cache(maxsize=8)
def load_category_rules(path: str | Path | None = None) -> CategoryRules:
    """Load and validate the categoriser rules (cached per path).

    Raises:
        ConfigError: the file is missing, is not YAML, or a category or keyword is invalid.
    """
    target = Path(path) if path is not None else DEFAULT_RULES_PATH
    try:
        raw = yaml.safe_load(target.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"cannot read category rules {target}: {err}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"category rules {target} are not valid YAML: {err}") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"category rules {target} must be a mapping with 'spend' and 'income'")
    try:
        rules = CategoryRules.model_validate(raw)
        # Compile now so that a bad keyword fails at load time, not on first use.
        rules.match_spend_merchant("")
        rules.match_spend_keyword("")
        rules.match_income_keyword("")
        _ = rules._noise
    except (ValidationError, ValueError, re.error) as err:
        raise ConfigError(f"invalid category rules in {target}: {err}") from err
    return rules


@functools.lru_cache(maxsize=2)
def load_mcc_table(path: str | Path | None = None) -> dict[str, str]:
    """Return ISO 18245 MCC (4 digits) -> description, from ``engine/data/mcc_codes.csv``."""
    target = Path(path) if path is not None else MCC_TABLE_PATH
    table: dict[str, str] = {}
    try:
        with target.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                code = (row.get("Derived MCC") or "").strip()
                if code.isdigit():
                    description = (row.get("Combined Description") or row.get("IRS Description") or "").strip()
                    irs = (row.get("IRS Description") or "").strip()
                    table[code.zfill(4)] = f"{description} {irs}".strip()
    except OSError as err:
        raise ConfigError(f"cannot read the MCC table {target}: {err}") from err
    return table


def mcc_category(mcc: str | None, *, rules: CategoryRules | None = None) -> str | None:
    """Spend category of a merchant category code, or None when the code says nothing."""
    if not mcc:
        return None
    code = str(mcc).strip()
    if not code.isdigit() or len(code) > 4:
        return None
    code = code.zfill(4)
    rules = rules or load_category_rules()
    if code in rules.mcc.codes:
        return rules.mcc.codes[code]
    number = int(code)
    for span in rules.mcc.ranges:
        if span.start <= number <= span.end:
            return span.category
    description = load_mcc_table().get(code)
    if description:
        return rules.match_spend_keyword(fold(description))
    return None


# --- merchant names ---------------------------------------------------------------------

_DATE_TIME = re.compile(
    r"\b\d{1,4}[./-]\d{1,2}[./-]\d{2,4}(?:[/ ]\d{1,2}[.:]\d{2}(?::\d{2})?)?\b"  # 21.05.11/12.54, 2019-01-05
    r"|\b\d{1,2}[:.]\d{2}(?::\d{2})?\b"  # 14:23
)
_REFERENCE = re.compile(
    r"\bNR[:.]?\s*\S+"  # NR:XXX1234
    r"|\bPAS\s*\d+\b"  # ,PAS999 (card sequence)
    r"|\bpasnr\.?\s*\d+"
    r"|#\s*\d+"  # #112
    r"|/\d+\b"  # OPT./056
    r"|\b\d+(?:[.,]\d+)?\s*(?:USD|EUR|GBP|CZK|AUD|CAD)\b",
    re.IGNORECASE,
)
_LONG_TOKEN = re.compile(r"(?<![\w-])[\w-]{6,}(?![\w-])")


def _drop_reference(match: re.Match[str]) -> str:
    """Remove reference numbers and phone numbers: long tokens made mostly of digits."""
    token = match.group()
    digits = sum(ch.isdigit() for ch in token)
    letters = sum(ch.isalpha() for ch in token)
    return " " if digits >= 5 and digits >= letters else token


_URL_TAIL = re.compile(r"(?i)\.(?:com|co\.uk|nl|de|es|fr|cz|net|org|io)\b(?:/\S*)?")
_STORE_NO = re.compile(r"(?i)\bFIL(?:IAAL)?\.?\s*\d*\b|\bstore\s+\d+\b")


def normalize_merchant(description: str) -> str:
    """Return a clean merchant name: no card-terminal noise, dates, reference numbers,
    city or country suffixes, in capitalised words ("MCDONALD'S #112" -> "Mcdonald's").

    Returns "" when nothing that looks like a name is left.
    """
    if not description:
        return ""
    rules = load_category_rules()
    text = unicodedata.normalize("NFKC", description)
    text = text.replace("\t", " ").replace("\r", " ").replace("\n", " ")
    # Fixed-width card lines ("SAINSBURYS SACAT 0602  LADBROKE GROV GBR") keep the
    # merchant name in the first column; "A;B" memos repeat the name after the type.
    # "PP.1234.PP . STEAM GAMES, Your purchase at STEAM GAMES": the name after "purchase at".
    at = re.search(r"(?i)\b(?:purchase|payment|compra|pago|achat|einkauf|aankoop) (?:at|en|bei|bij|chez) (.+)", text)
    if at:
        text = at.group(1)
    if ";" in text:
        parts = [p for p in text.split(";") if p.strip()]
        text = parts[-1] if parts else text
    text = _URL_TAIL.sub(" ", text)
    text = re.sub(r"\([^)]*\)?|\)", " ", text)
    text = _DATE_TIME.sub(" ", text)
    text = _REFERENCE.sub(" ", text)
    text = _LONG_TOKEN.sub(_drop_reference, text)
    text = _STORE_NO.sub(" ", text)
    # "999PN5477SCHECK" -> "999 PN 5477 SCHECK"
    text = re.sub(r"(?<=\d)(?=[A-Za-z]{2,})|(?<=[A-Za-z]{2})(?=\d{3,})", " ", text)
    columns = [c for c in re.split(r"\s{2,}|,", text) if fold(c)]
    if not columns:
        return ""
    for column in columns[:3]:
        words = _clean_words(column, rules)
        if words:
            return _capitalise(words)
    return ""


def is_payment_processor(name: str) -> bool:
    """True for PayPal, Klarna and the like, whose name says nothing about the merchant."""
    return bool(load_category_rules()._noise["processor"].match(fold(name)))


def _words_before(folded: list[str], offset: int) -> int:
    """How many words of " ".join(folded) start before character ``offset``."""
    count, pos = 0, 0
    for word in folded:
        if pos >= offset:
            break
        count += 1
        pos += len(word) + 1
    return count


def _clean_words(text: str, rules: CategoryRules) -> str:
    noise = rules._noise
    # Find noise on folded text, keep the original spelling of what remains.
    kept = [w for w in text.split() if fold(w)]
    folded = [fold(w) for w in kept]
    while folded:
        match = noise["prefix"].match(" ".join(folded))
        consumed = _words_before(folded, match.end()) if match else 0
        if consumed == 0:
            break
        kept, folded = kept[consumed:], folded[consumed:]
    pairs = [(k, f) for k, f in zip(kept, folded) if not noise["words"].fullmatch(f) and not f.isdigit()]
    # Strip trailing cities and country codes, but never the whole name.
    while len(pairs) > 1:
        words = [f for _, f in pairs]
        match = noise["suffix"].search(" ".join(words))
        if not match:
            break
        remaining = _words_before(words, match.start() + 1)
        if remaining == 0 or remaining >= len(pairs):
            break
        pairs = pairs[:remaining]
    return " ".join(k for k, _ in pairs)


def _capitalise(text: str) -> str:
    words = []
    for word in text.split():
        word = word.strip(".,:;-/*+")
        if not word:
            continue
        words.append(word[:1].upper() + word[1:].lower())
    return " ".join(words)[:200]


# --- categories -------------------------------------------------------------------------


def categorize(
    description: str,
    *,
    merchant: str | None = None,
    mcc: str | None = None,
    amount: Decimal,
    rules: CategoryRules | None = None,
) -> str:
    """Return the category of one transaction, a name from ``engine.categories.CATEGORIES``.

    Args:
        description: the bank's text for the transaction (any language).
        merchant: the normalised merchant or counterparty name, when known.
        mcc: the card's ISO 18245 merchant category code, when the file has one.
        amount: signed amount; <= 0 gives a spend category, > 0 an income category.
        rules: rules to use instead of ``configs/categories.yaml``.
    """
    rules = rules or load_category_rules()
    text = fold(" ".join(part for part in (merchant or "", description or "") if part))
    if Decimal(amount) > 0:
        found = rules.match_income_keyword(text)
        if found:
            return found
        if mcc and mcc_category(mcc, rules=rules):
            return rules.income.mcc_credit
        return rules.income.fallback
    found = rules.match_spend_merchant(text)
    if found:
        return found
    found = mcc_category(mcc, rules=rules)
    if found:
        return found
    return rules.match_spend_keyword(text) or rules.spend.fallback


def refunded_category(
    description: str,
    *,
    merchant: str | None = None,
    mcc: str | None = None,
    rules: CategoryRules | None = None,
) -> str:
    """Return the spend category of the purchase that a refund pays back.

    It is the category a payment to the same merchant, with the same text and MCC, would
    get, so a refund from a streaming service lowers subscription spend.
    """
    return categorize(description, merchant=merchant, mcc=mcc, amount=Decimal(-1), rules=rules)
