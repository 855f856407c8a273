"""OFX / QFX (1.x SGML and 2.x XML) statements, read with ofxparse.

Bank and credit-card statements are read; each ``<STMTTRN>`` element is one entry.
ofxparse turns OFX date-times with a zone (``[-5:EST]``) into UTC; a posting date with no
time of day (``20131215`` or ``...000000``) is placed at 12:00 UTC. The FITID is the bank's
transaction id. The ledger balance (LEDGERBAL) becomes the balance snapshot; the available
balance (AVAILBAL) is used only when the file states no ledger balance.
"""

from __future__ import annotations

import io
import re
import warnings
from collections import deque
from datetime import datetime
from decimal import Decimal
from typing import Any

from engine.errors import StatementError
from engine.statements._common import (
    ParsedStatement,
    RawBalance,
    RawEntry,
    RowError,
    at_noon_utc,
    compose_description,
    to_utc,
)

__all__ = ["read_ofx", "looks_like_ofx"]

_BLOCK = re.compile(r"<STMTTRN\s*>(.*?)(?=</STMTTRN\s*>|<STMTTRN\s*>|</BANKTRANLIST|\Z)", re.IGNORECASE | re.DOTALL)
_FITID = re.compile(r"<FITID>\s*(?:<!\[CDATA\[)?([^<\r\n\]]*)", re.IGNORECASE)


def looks_like_ofx(head: str) -> bool:
    return bool(re.search(r"OFXHEADER|<OFX>", head, re.IGNORECASE))


def _line_of(text: str, pos: int) -> int:
    newline = "\n" if "\n" in text else "\r"
    return text.count(newline, 0, pos) + 1


def _when(value: datetime) -> datetime:
    # ofxparse returns naive UTC; a bare date comes back as midnight.
    if value.tzinfo is None and (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
        return at_noon_utc(value.date())
    return to_utc(value)


def _block_fitid(block: str) -> str | None:
    match = _FITID.search(block)
    return match.group(1).strip() if match else None


def _content_fitid(content: Any) -> str | None:
    try:
        tag = content.find("fitid")
        return tag.contents[0].strip() if tag is not None and tag.contents else None
    except (AttributeError, IndexError, TypeError):
        return None


def read_ofx(data: bytes) -> ParsedStatement:
    """Parse OFX bytes into raw entries (file order), balances and the entry count."""
    from ofxparse import OfxParser  # imported here so that other formats load without it

    text = data.decode("latin-1")
    blocks = [(_line_of(text, m.start()), _block_fitid(m.group(1))) for m in _BLOCK.finditer(text)]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ofx = OfxParser.parse(io.BytesIO(data), fail_fast=False)
    except Exception as err:  # ofxparse raises many kinds of errors on broken files
        raise StatementError(f"not a readable OFX statement: {type(err).__name__}: {err}") from err

    entries: list[RawEntry | RowError] = []
    balances: list[RawBalance] = []
    accounts: set[str] = set()
    ptr = 0

    def skip_to(index: int) -> None:
        nonlocal ptr
        while ptr < index:
            entries.append(
                RowError(blocks[ptr][0], "STMTTRN was not read by the OFX parser (unsupported account type?)")
            )
            ptr += 1

    for account in getattr(ofx, "accounts", []) or []:
        statement = getattr(account, "statement", None)
        if statement is None or not hasattr(statement, "discarded_entries"):
            continue
        if type(statement).__name__ != "Statement":  # investment statements hold other kinds of entries
            continue
        account_id = (getattr(account, "account_id", None) or "").strip() or None
        if account_id:
            accounts.add(account_id)
        currency = (getattr(statement, "currency", None) or "").upper() or None
        parsed = deque(("txn", t, (t.id or "").strip()) for t in statement.transactions)
        dropped = deque(("bad", d, _content_fitid(d.get("content"))) for d in statement.discarded_entries)
        while parsed or dropped:
            heads = [q[0] for q in (parsed, dropped) if q]
            found = None
            for k in range(ptr, len(blocks)):
                for head in heads:
                    if head[2] and head[2] == blocks[k][1]:
                        found = (k, head)
                        break
                if found:
                    break
            if found:
                skip_to(found[0])
                kind, item, _ = found[1]
            else:
                kind, item, _ = parsed[0] if parsed else dropped[0]
            (parsed if kind == "txn" else dropped).popleft()
            line = blocks[ptr][0] if ptr < len(blocks) else None
            ptr = min(ptr + 1, len(blocks)) if ptr < len(blocks) else ptr
            if kind == "bad":
                entries.append(RowError(line, f"OFX transaction skipped: {item.get('error')}"))
                continue
            entries.append(_entry(item, line, currency, account_id))
        balance = getattr(statement, "balance", None)
        balance_date = getattr(statement, "balance_date", None)
        if balance is None:
            balance = getattr(statement, "available_balance", None)
            balance_date = getattr(statement, "available_balance_date", None)
        if balance is not None and balance_date is not None:
            balances.append(RawBalance(_when(balance_date), Decimal(balance), currency, account_id))
    skip_to(len(blocks))
    return ParsedStatement("ofx", entries, len(blocks), balances, accounts)


def _entry(txn: Any, line: int | None, currency: str | None, account_id: str | None) -> RawEntry | RowError:
    if txn.date is None:
        return RowError(line, "OFX transaction has no posting date (DTPOSTED)")
    if txn.amount is None or txn.amount == "":
        return RowError(line, "OFX transaction has no amount (TRNAMT)")
    try:
        amount = Decimal(txn.amount)
    except ArithmeticError:
        return RowError(line, f"OFX transaction amount {txn.amount!r} is not a number")
    payee = (txn.payee or "").strip() or None
    sic = (getattr(txn, "sic", None) or "").strip()
    return RawEntry(
        line=line,
        ts=_when(txn.date),
        amount=amount,
        currency=currency,
        description=compose_description(payee, txn.memo),
        payee=payee,
        mcc=sic if sic.isdigit() else None,
        bank_id=(txn.id or "").strip() or None,
        account=account_id,
        merchant_text=txn.memo or None,
    )
