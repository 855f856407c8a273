"""ISO 20022 camt.053 (bank-to-customer statement), read with lxml.

XPath over local names, so every camt.053 version (001.02 to 001.13) and bank dialect
reads alike. Each ``Ntry`` element is one entry: amount and ``Ccy`` from ``Amt``, sign from
``CdtDbtInd`` (DBIT is negative), date from ``BookgDt`` (else ``ValDt``; a bare date is
12:00 UTC), text from ``RmtInf/Ustrd`` (else the additional entry or transaction
information), the counterparty name from ``RltdPties`` (the creditor for a debit, the
debtor for a credit). The bank's transaction id is the entry's ``AcctSvcrRef``, else its
``NtryRef`` (with the booking date, since NtryRef is unique only within a statement),
else the first transaction's ``AcctSvcrRef``. The closing booked balance (CLBD), else the
closing available balance (CLAV), becomes the balance snapshot.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from lxml import etree

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

__all__ = ["read_camt053", "looks_like_camt"]


def looks_like_camt(head: str) -> bool:
    return "BkToCstmrStmt" in head or "camt.053" in head


def _x(node: etree._Element, path: str) -> list[etree._Element]:
    """Evaluate a '/'-separated path of local names ('.//' allowed) below node."""
    parts = []
    for step in path.split("/"):
        if step in ("", "."):
            parts.append(step)
        else:
            parts.append(f"*[local-name()='{step}']")
    return node.xpath("/".join(parts))


def _text(node: etree._Element, *paths: str) -> str | None:
    for path in paths:
        for found in _x(node, path):
            value = (found.text or "").strip()
            if value:
                return value
    return None


def _parse_when(node: etree._Element, container: str) -> datetime | None:
    day = _text(node, f"{container}/Dt")
    if day:
        return at_noon_utc(date.fromisoformat(day[:10]))
    moment = _text(node, f"{container}/DtTm")
    if moment:
        value = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        return to_utc(value)
    return None


def read_camt053(data: bytes) -> ParsedStatement:
    """Parse camt.053 XML bytes into raw entries (file order), balances and the entry count."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as err:
        raise StatementError(f"not a readable camt.053 statement: XML error: {err}") from err
    statements = _x(root, ".//Stmt")
    if not statements:
        if etree.QName(root).localname == "Document" and _x(root, "BkToCstmrStmt"):
            statements = []
        else:
            raise StatementError(
                f"XML file is not a camt.053 statement: root element {etree.QName(root).localname!r} "
                "has no BkToCstmrStmt/Stmt"
            )
    entries: list[RawEntry | RowError] = []
    balances: list[RawBalance] = []
    accounts: set[str] = set()
    count = len(_x(root, ".//Ntry"))
    for stmt in statements:
        account = _text(stmt, "Acct/Id/IBAN", "Acct/Id/Othr/Id")
        if account:
            accounts.add(account)
        account_ccy = _text(stmt, "Acct/Ccy")
        for ntry in _x(stmt, "Ntry"):
            entries.append(_entry(ntry, account, account_ccy))
        balance = _closing_balance(stmt, account, account_ccy)
        if balance is not None:
            balances.append(balance)
    return ParsedStatement("camt053", entries, count, balances, accounts)


def _entry(ntry: etree._Element, account: str | None, account_ccy: str | None) -> RawEntry | RowError:
    line = ntry.sourceline
    amt_nodes = _x(ntry, "Amt")
    if not amt_nodes or not (amt_nodes[0].text or "").strip():
        return RowError(line, "Ntry has no Amt")
    raw_amount = (amt_nodes[0].text or "").strip()
    try:
        amount = Decimal(raw_amount)
    except InvalidOperation:
        return RowError(line, f"Ntry amount {raw_amount!r} is not a number")
    if not amount.is_finite():
        return RowError(line, f"Ntry amount {raw_amount!r} is not a number")
    indicator = _text(ntry, "CdtDbtInd")
    if indicator not in ("CRDT", "DBIT"):
        return RowError(line, f"Ntry CdtDbtInd is {indicator!r}, expected CRDT or DBIT")
    amount = abs(amount) if indicator == "CRDT" else -abs(amount)
    try:
        when = _parse_when(ntry, "BookgDt") or _parse_when(ntry, "ValDt")
    except ValueError as err:
        return RowError(line, f"Ntry date is not an ISO date: {err}")
    if when is None:
        return RowError(line, "Ntry has neither BookgDt nor ValDt")
    currency = amt_nodes[0].get("Ccy") or account_ccy
    ustrd = [(n.text or "").strip() for n in _x(ntry, ".//RmtInf/Ustrd") if (n.text or "").strip()]
    text = " ".join(ustrd) or _text(ntry, "AddtlNtryInf", ".//TxDtls/AddtlTxInf") or ""
    party = "Cdtr" if indicator == "DBIT" else "Dbtr"
    payee = _text(
        ntry,
        f".//RltdPties/{party}/Nm",
        f".//RltdPties/{party}/Pty/Nm",
        f".//RltdPties/Ultmt{party}/Nm",
    )
    extra = _text(ntry, ".//TxDtls/AddtlTxInf")
    description = compose_description(payee, text, extra if extra and extra != text else None)
    ntry_ref = _text(ntry, "NtryRef")
    bank_id = _text(ntry, "AcctSvcrRef")
    if not bank_id and ntry_ref:
        bank_id = f"ntryref:{when.date().isoformat()}:{ntry_ref}"
    if not bank_id:
        bank_id = _text(ntry, "NtryDtls/TxDtls/Refs/AcctSvcrRef")
    mcc = _text(ntry, ".//CardTx/Card/PlainCardData/MrchntCtgyCd", ".//MrchntCtgyCd")
    return RawEntry(
        line=line,
        ts=when,
        amount=amount,
        currency=currency,
        description=re.sub(r"\s+", " ", description).strip(),
        payee=payee,
        mcc=mcc if mcc and mcc.isdigit() else None,
        bank_id=bank_id,
        account=account,
        merchant_text=text or None,
    )


def _closing_balance(stmt: etree._Element, account: str | None, account_ccy: str | None) -> RawBalance | None:
    by_code: dict[str, etree._Element] = {}
    for bal in _x(stmt, "Bal"):
        code = _text(bal, "Tp/CdOrPrtry/Cd", "Tp/CdOrPrtry/Prtry")
        if code and code not in by_code:
            by_code[code] = bal
    bal = by_code["CLBD"] if "CLBD" in by_code else by_code.get("CLAV")
    if bal is None:
        return None
    amt = _x(bal, "Amt")
    try:
        amount = Decimal((amt[0].text or "").strip())
        when = _parse_when(bal, "Dt")
    except (IndexError, InvalidOperation, ValueError):
        return None
    if when is None or not amount.is_finite():
        return None
    if _text(bal, "CdtDbtInd") == "DBIT":
        amount = -abs(amount)
    return RawBalance(when, amount, amt[0].get("Ccy") or account_ccy, account)
