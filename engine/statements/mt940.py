"""SWIFT MT940 statements, read with the ``mt-940`` package (import name ``mt940``).

Files with several statements (several ``:20:`` blocks, several accounts) are split by
``mt940.parse_statements``. Each ``:61:`` statement line is one entry: the value date
(12:00 UTC), the signed amount (D and RC are money leaving the account), the currency of
the statement's balances, the bank reference after ``//`` as the bank's transaction id.
The text comes from the ``:86:`` information (the structured German ``?20..?29`` purpose
and ``?32/?33`` name when present, else the raw text), the ``:NS:`` fields, and the
supplementary details of the ``:61:`` line (Rabobank puts the counterparty there). The
closing balance (``:62F:``/``:62M:``), else the available balance (``:64:``), of each
statement becomes a balance snapshot.

A ``:61:`` line that the package cannot read becomes a RowError with its line number and
does not stop the import. The package logs raw statement lines (account numbers included)
on its own ``mt940.*`` loggers; this module drops those records.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import mt940

from engine.errors import StatementError
from engine.statements._common import (
    ParsedStatement,
    RawBalance,
    RawEntry,
    RowError,
    at_noon_utc,
    compose_description,
)

__all__ = ["read_mt940", "looks_like_mt940"]

_TAG_LINE = re.compile(r"^:(?:20|25|28C?|60[FM]|61|62[FM]|86|NS):", re.MULTILINE)
_STATEMENT_LINE = re.compile(r"^:61:(.*)$", re.MULTILINE)
_ERROR_KEY = "_offerloop_error"
_RAW_KEY = "_offerloop_raw"


def looks_like_mt940(head: str) -> bool:
    tags = set(re.findall(r"^:(20|25|28C?|60[FM]|61|62[FM]):", head, re.MULTILINE))
    return len(tags) >= 2 and ("25" in tags or "61" in tags or "60F" in tags)


class _TolerantStatement(mt940.tags.Statement):
    """The package's ``:61:`` tag, keeping an unreadable line as an error marker."""

    def parse(self, transactions: Any, value: str) -> dict[str, Any]:
        try:
            result = super().parse(transactions, value)
        except (RuntimeError, ValueError):
            return {_ERROR_KEY: f"unreadable :61: line {value.splitlines()[0][:80]!r}", _RAW_KEY: value}
        result[_RAW_KEY] = value
        return result

    def __call__(self, transactions: Any, value: dict[str, Any]) -> dict[str, Any]:
        raw = value.get(_RAW_KEY, "")
        if _ERROR_KEY in value:
            # A truthy id makes the package start a new transaction for this line.
            return {_ERROR_KEY: value[_ERROR_KEY], _RAW_KEY: raw, "id": "ERR!"}
        try:
            data = super().__call__(transactions, value)
        except (ValueError, TypeError, ArithmeticError) as err:
            return {_ERROR_KEY: f"invalid date or amount in :61: line: {err}", _RAW_KEY: raw, "id": "ERR!"}
        # Without a transaction type code the package would merge the next :61: into this one.
        if not data.get("id"):
            data["id"] = "----"
        data[_RAW_KEY] = raw
        return data


class _DropPackageLogs(logging.Filter):
    """The mt940 package logs raw statement lines (account numbers included); drop them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return False


def _silence_package_logs() -> None:
    for name in list(logging.root.manager.loggerDict):
        if name == "mt940" or name.startswith("mt940."):
            package_logger = logging.getLogger(name)
            if not any(isinstance(f, _DropPackageLogs) for f in package_logger.filters):
                package_logger.addFilter(_DropPackageLogs())


def _normalise(line: str) -> str:
    return re.sub(r"\s+", "", line)


def read_mt940(data: bytes) -> ParsedStatement:
    """Parse MT940 bytes into raw entries (file order), balances and the entry count."""
    text = _decode(data).replace("\u00ad", "-")  # soft hyphens stand for dashes in some exports
    # Line numbers of the :61: lines, counted on the file itself.
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    statement_lines = [(i + 1, _normalise(line[4:])) for i, line in enumerate(lines) if line.startswith(":61:")]
    _silence_package_logs()
    try:
        statements = mt940.parse_statements(text, tags={61: _TolerantStatement()})
    except Exception as err:  # the package raises bare exceptions on broken structure
        raise StatementError(f"not a readable MT940 statement: {type(err).__name__}: {err}") from err
    if not statements and not statement_lines:
        raise StatementError("not an MT940 statement: no :20:, :25: or :61: tags")

    entries: list[RawEntry | RowError] = []
    balances: list[RawBalance] = []
    accounts: set[str] = set()
    ptr = 0
    for stmt in statements:
        account = (stmt.data.get("account_identification") or "").strip() or None
        if account:
            accounts.add(account)
        for txn in stmt:
            raw = _normalise(str(txn.data.get(_RAW_KEY, "")).split("\n")[0])
            line = None
            for k in range(ptr, len(statement_lines)):
                if raw and (statement_lines[k][1].startswith(raw) or raw.startswith(statement_lines[k][1])):
                    for missed in range(ptr, k):
                        entries.append(
                            RowError(statement_lines[missed][0], ":61: line was not read by the MT940 parser")
                        )
                    line = statement_lines[k][0]
                    ptr = k + 1
                    break
            if _RAW_KEY not in txn.data and "amount" not in txn.data:
                continue  # a placeholder without a :61: line (text before the first :61:)
            entries.append(_entry(txn.data, line, account))
        balance = _balance(stmt.data, account)
        if balance is not None:
            balances.append(balance)
    for missed in range(ptr, len(statement_lines)):
        entries.append(RowError(statement_lines[missed][0], ":61: line was not read by the MT940 parser"))
    return ParsedStatement("mt940", entries, len(statement_lines), balances, accounts)


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1", errors="replace")


def _entry(data: dict[str, Any], line: int | None, account: str | None) -> RawEntry | RowError:
    if _ERROR_KEY in data:
        return RowError(line, data[_ERROR_KEY])
    amount = data.get("amount")
    day = data.get("date")
    if amount is None or day is None:
        return RowError(line, ":61: line has no amount or value date")
    payee = _first(data, "applicant_name", "recipient_name")
    if payee:
        # The package glues ?31 account digits to the ?32 name; keep the name only.
        payee = re.sub(r"^[\dA-Z]{0,4}\d{4,}", "", payee).strip() or None
    details = data.get("purpose") or data.get("transaction_details") or data.get("non_swift_text") or ""
    extra = (data.get("extra_details") or "").strip()
    if extra.startswith("/OCMT/") or extra.startswith("/CHGS/"):
        extra = ""
    posting = data.get("posting_text")
    description = compose_description(extra or None, posting, details, payee)
    bank_ref = (data.get("bank_reference") or "").strip()
    return RawEntry(
        line=line,
        ts=at_noon_utc(day),
        amount=amount.amount,
        currency=amount.currency,
        description=description,
        payee=payee or (extra or None),
        bank_id=bank_ref if bank_ref and bank_ref.upper() != "NONREF" else None,
        account=account,
        merchant_text=str(details) or None,
    )


def _first(data: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _balance(data: dict[str, Any], account: str | None) -> RawBalance | None:
    for key in ("final_closing_balance", "intermediate_closing_balance", "available_balance"):
        balance = data.get(key)
        if balance is not None and getattr(balance, "date", None) is not None:
            return RawBalance(at_noon_utc(balance.date), balance.amount.amount, balance.amount.currency, account)
    return None
