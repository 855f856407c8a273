"""Shared pieces of the statement readers: result types, hashing, redaction, event building."""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Iterable, Union

from pydantic import ValidationError

from engine.categories import CATEGORIES, INCOME_CATEGORIES
from engine.categorize import categorize, fold, is_payment_processor, normalize_merchant
from engine.events import BalanceSnapshotEvent, TransactionEvent, format_validation_error

__all__ = [
    "RowError",
    "StatementImport",
    "RawEntry",
    "RawBalance",
    "ParsedStatement",
    "account_hash",
    "at_noon_utc",
    "to_utc",
    "build_import",
]

logger = logging.getLogger("engine.statements")

_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class RowError:
    """One transaction entry of the file that could not be imported."""

    line: int | None
    reason: str


@dataclass(frozen=True)
class StatementImport:
    """Transactions, balances and row errors read from one statement file.

    ``source_count`` is the number of transaction entries the file itself contains
    (STMTTRN elements, Ntry elements, :61: lines, CSV data rows), counted apart from
    parsing, so that ``len(transactions) + len(errors) == source_count``.
    """

    format: str
    transactions: list[TransactionEvent]
    balances: list[BalanceSnapshotEvent]
    errors: list[RowError]
    source_count: int
    transaction_lines: list[int | None] = field(default_factory=list)
    """Line of the file where each transaction starts (parallel to ``transactions``)."""

    @property
    def imported(self) -> int:
        return len(self.transactions)

    @property
    def complete(self) -> bool:
        """True when every entry of the file was imported or reported as an error."""
        return self.imported + len(self.errors) == self.source_count


@dataclass
class RawEntry:
    """One transaction as a format reader found it, before hashing and categorising."""

    line: int | None
    ts: datetime
    amount: Decimal
    currency: str | None
    description: str = ""
    payee: str | None = None
    mcc: str | None = None
    bank_id: str | None = None
    account: str | None = None
    balance_after: Decimal | None = None
    source_category: str | None = None
    merchant_text: str | None = None  # raw text to read the merchant from, spacing kept


@dataclass
class RawBalance:
    ts: datetime
    amount: Decimal
    currency: str | None
    account: str | None = None


@dataclass
class ParsedStatement:
    format: str
    entries: list[Union[RawEntry, RowError]]
    source_count: int
    balances: list[RawBalance] = field(default_factory=list)
    accounts: set[str] = field(default_factory=set)


def to_utc(value: datetime) -> datetime:
    """Aware datetime in UTC; a naive value is taken to be UTC already."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def at_noon_utc(day: date) -> datetime:
    """Return 12:00 UTC on ``day``, the timestamp of a statement date without a time of day."""
    return datetime.combine(day, time(12, 0), tzinfo=timezone.utc)


def _normalise_account(identifier: str) -> str:
    return re.sub(r"\s+", "", identifier).upper()


def account_hash(identifier: str | None, salt: bytes = b"offerloop") -> str | None:
    """Keyed BLAKE2b of an account number or IBAN, as 16 hex characters (None for None).

    Spaces and case are ignored, so "NL26 BUNQ ..." and "nl26bunq..." hash alike.
    """
    if identifier is None or not identifier.strip():
        return None
    key = salt if len(salt) <= 64 else hashlib.blake2b(salt).digest()
    return hashlib.blake2b(_normalise_account(identifier).encode("utf-8"), key=key).hexdigest()[:16]


def _digest(*parts: str) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=16).hexdigest()


def _amount_key(amount: Decimal) -> str:
    return format(amount.normalize(), "f") if amount == amount else str(amount)


class Redactor:
    """Masks account numbers and IBANs in free text before it goes into an event."""

    _IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
    _DIGITS = re.compile(r"\d{7,}")

    def __init__(self, accounts: Iterable[str]) -> None:
        variants: set[str] = set()
        for account in accounts:
            if not account or sum(ch.isdigit() for ch in account) < 5:
                continue
            raw = account.strip()
            variants.add(raw)
            variants.add(_normalise_account(raw))
            variants.add(re.sub(r"[A-Z]{3}$", "", raw))
            variants.update(part for part in re.split(r"[/ ]", raw) if sum(c.isdigit() for c in part) >= 5)
        ordered = sorted((v for v in variants if len(v) >= 5), key=len, reverse=True)
        self._own = re.compile("|".join(re.escape(v) for v in ordered), re.IGNORECASE) if ordered else None

    def __call__(self, text: str) -> str:
        if not text:
            return text
        if self._own is not None:
            text = self._own.sub("[account]", text)
        text = self._IBAN.sub(lambda m: "[iban]", text)
        return self._DIGITS.sub(lambda m: "*" * (len(m.group()) - 4) + m.group()[-4:], text)


def _clip(text: str, limit: int) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def compose_description(*parts: str | None) -> str:
    """Join text fields, dropping empty ones and ones another part already contains."""
    cleaned = [re.sub(r"\s+", " ", p).strip() for p in parts if p and p.strip()]
    kept: list[str] = []
    for i, part in enumerate(cleaned):
        low = part.casefold()
        if any(
            low in other.casefold() and (low != other.casefold() or j < i) for j, other in enumerate(cleaned) if j != i
        ):
            continue
        kept.append(part)
    return " | ".join(kept)


def build_import(
    parsed: ParsedStatement,
    *,
    customer_id: str,
    account_salt: bytes,
) -> StatementImport:
    """Turn raw entries into validated, categorised events with stable ids."""
    redact = Redactor(parsed.accounts)
    transactions: list[TransactionEvent] = []
    lines: list[int | None] = []
    errors: list[RowError] = []
    seen_ids: Counter[tuple[str, str]] = Counter()
    seen_rows: Counter[tuple[str, ...]] = Counter()
    hashes: set[str] = set()
    for entry in parsed.entries:
        if isinstance(entry, RowError):
            errors.append(RowError(entry.line, redact(entry.reason)))
            continue
        currency = (entry.currency or "").strip().upper()
        if not _CURRENCY.match(currency):
            errors.append(RowError(entry.line, f"no ISO 4217 currency code (got {entry.currency!r})"))
            continue
        acct = account_hash(entry.account, account_salt)
        if acct:
            hashes.add(acct)
        description = _clip(redact(entry.description), 500)
        payee = _clip(redact(entry.payee), 200) if entry.payee else None
        if payee and is_payment_processor(payee):
            payee = None
        source = redact(entry.merchant_text) if entry.merchant_text else description
        merchant = (normalize_merchant(payee) if payee else "") or normalize_merchant(source)
        mcc = (
            entry.mcc.strip().zfill(4)
            if entry.mcc and entry.mcc.strip().isdigit() and len(entry.mcc.strip()) <= 4
            else None
        )
        category = _source_category(entry.source_category, entry.amount)
        if category is None:
            category = categorize(description, merchant=merchant or None, mcc=mcc, amount=entry.amount)
        if entry.bank_id and entry.bank_id.strip():
            key = ("id", entry.bank_id.strip())
            occurrence = seen_ids[key]
            seen_ids[key] += 1
            parts = ["txn", customer_id, acct or "", "id", key[1]] + ([str(occurrence)] if occurrence else [])
        else:
            row = (entry.ts.date().isoformat(), _amount_key(entry.amount), fold(description))
            occurrence = seen_rows[row]
            seen_rows[row] += 1
            parts = ["txn", customer_id, acct or "", "row", *row, str(occurrence)]
        try:
            event = TransactionEvent(
                event_id=_digest(*parts),
                customer_id=customer_id,
                ts=entry.ts,
                amount=entry.amount,
                currency=currency,
                description=description,
                merchant=merchant or None,
                category=category,
                mcc=mcc,
                account_id=acct,
                balance_after=entry.balance_after,
            )
        except ValidationError as err:
            errors.append(RowError(entry.line, f"invalid transaction: {format_validation_error(err)}"))
            continue
        transactions.append(event)
        lines.append(entry.line)

    balances: list[BalanceSnapshotEvent] = []
    seen_balances: set[str] = set()
    for raw in parsed.balances:
        currency = (raw.currency or "").strip().upper()
        acct = account_hash(raw.account, account_salt)
        if not _CURRENCY.match(currency):
            logger.warning(
                "skipped a %s balance of account %s: currency %r is not ISO 4217", parsed.format, acct, raw.currency
            )
            continue
        event_id = _digest("balance", customer_id, acct or "", raw.ts.isoformat(), _amount_key(raw.amount), currency)
        if event_id in seen_balances:
            continue
        seen_balances.add(event_id)
        balances.append(
            BalanceSnapshotEvent(
                event_id=event_id,
                customer_id=customer_id,
                ts=raw.ts,
                balance=raw.amount,
                currency=currency,
                account_id=acct,
            )
        )

    result = StatementImport(
        format=parsed.format,
        transactions=transactions,
        balances=balances,
        errors=errors,
        source_count=parsed.source_count,
        transaction_lines=lines,
    )
    logger.info(
        "imported %s statement: %d transactions, %d errors, %d entries in file, %d balances, accounts %s",
        parsed.format,
        result.imported,
        len(errors),
        parsed.source_count,
        len(balances),
        sorted(hashes),
    )
    if not result.complete:
        logger.warning(
            "%s statement: %d imported + %d errors != %d entries in file",
            parsed.format,
            result.imported,
            len(errors),
            parsed.source_count,
        )
    return result


def _source_category(value: str | None, amount: Decimal) -> str | None:
    """Return the file's own category when it names one of offerloop's categories for this sign."""
    if not value:
        return None
    name = value.strip().lower().replace(" ", "_")
    if name not in CATEGORIES:
        return None
    is_income = name in INCOME_CATEGORIES
    return name if is_income == (amount > 0) else None
