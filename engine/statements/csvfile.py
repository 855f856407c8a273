"""Delimited-text (CSV) bank exports, read with the stdlib csv module and python-dateutil.

Which column holds what is told by a :class:`~engine.statements.mapping.CsvMapping`: the
caller's, or the named mapping of ``configs/statements/csv_mappings.yaml`` whose columns
the file's header holds. Each non-blank data row is one entry; a row whose date or amount
cannot be read becomes a RowError with its line number. Dates without a time of day are
placed at 12:00 UTC; currency is the row's currency column, else the mapping's
``default_currency``.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from decimal import Decimal, InvalidOperation

from dateutil import parser as date_parser

from engine.errors import StatementError
from engine.statements._common import ParsedStatement, RawEntry, RowError, at_noon_utc, compose_description, to_utc
from engine.statements.mapping import (
    Column,
    CsvMapping,
    header_matches,
    load_csv_mappings,
    normalise_header,
    unknown_header_error,
)

__all__ = ["read_csv", "choose_mapping", "parse_amount", "looks_like_csv"]

_SYMBOLS = re.compile(r"[£$€¥₩₹]|\b[A-Z]{3}\b")


def looks_like_csv(text: str) -> bool:
    lines = [line for line in re.split(r"\r\n|\r|\n", text[:20000]) if line.strip()]
    if not lines or "\x00" in text:
        return False
    return any(sep in lines[0] for sep in (",", ";", "\t", "|"))


def _decode(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as err:
        raise StatementError(
            f"CSV file is not {encoding} text ({err}); set 'encoding' in the CSV mapping (e.g. cp1252, latin-1)"
        ) from err


def _reader(text: str, mapping: CsvMapping) -> "csv._reader":
    return csv.reader(io.StringIO(text, newline=""), delimiter=mapping.delimiter, quotechar=mapping.quotechar)


def _first_row(data: bytes, mapping: CsvMapping) -> tuple[str, ...] | None:
    try:
        text = data.decode(mapping.encoding)
    except (UnicodeDecodeError, LookupError):
        return None
    reader = _reader(text[:65536], mapping)
    try:
        skipped = 0
        for row in reader:
            if skipped < mapping.skip_rows:
                skipped += 1
                continue
            if any(cell.strip() for cell in row):
                return normalise_header(row)
    except csv.Error:
        return None
    return None


def _sniffed_header(data: bytes) -> tuple[str, ...]:
    text = data[:65536].decode("utf-8-sig", errors="replace")
    first = next((line for line in re.split(r"\r\n|\r|\n", text) if line.strip()), "")
    delimiter = max((",", ";", "\t", "|"), key=first.count)
    try:
        row = next(csv.reader([first], delimiter=delimiter))
    except (csv.Error, StopIteration):
        row = [first]
    return normalise_header(row)


def choose_mapping(data: bytes, mappings: dict[str, CsvMapping]) -> CsvMapping:
    """The mapping whose columns the file's header holds, best overlap first.

    Raises:
        StatementError: no mapping fits (the message names the header and how to pass a
            mapping), or two fit equally well.
    """
    scored: list[tuple[float, str]] = []
    for name, mapping in mappings.items():
        if not mapping.has_header:
            continue
        header = _first_row(data, mapping)
        if header:
            score = header_matches(mapping, header)
            if score > 0:
                scored.append((score, name))
    if not scored:
        raise unknown_header_error(_sniffed_header(data))
    scored.sort(reverse=True)
    best = [name for score, name in scored if score == scored[0][0]]
    if len(best) > 1:
        raise unknown_header_error(_sniffed_header(data), best)
    return mappings[best[0]]


def parse_amount(text: str, mapping: CsvMapping) -> Decimal:
    """Read one amount cell ("-8,78", "£1,183.23", "+ £1,100.00", "(12.00)", "12,00-")."""
    value = (text or "").replace("\u00a0", " ").replace("\u2212", "-").strip()
    if not value:
        raise ValueError("amount is empty")
    negative = False
    if value.startswith("(") and value.endswith(")"):
        negative, value = True, value[1:-1]
    value = _SYMBOLS.sub("", value).replace(" ", "")
    if value.endswith("-"):
        negative, value = not negative, value[:-1]
    if value.startswith("+"):
        value = value[1:]
    elif value.startswith("-"):
        negative, value = not negative, value[1:]
    if mapping.thousands_separator and mapping.thousands_separator != " ":
        value = value.replace(mapping.thousands_separator, "")
    if mapping.decimal_separator == ",":
        value = value.replace(",", ".")
    if not re.fullmatch(r"\d+(?:\.\d+)?|\.\d+", value):
        raise ValueError(f"amount {text.strip()!r} is not a number")
    try:
        amount = Decimal(value)
    except InvalidOperation as err:  # pragma: no cover - the pattern above rules this out
        raise ValueError(f"amount {text.strip()!r} is not a number") from err
    return -amount if negative else amount


def _parse_date(text: str, mapping: CsvMapping) -> datetime:
    value = (text or "").strip()
    if not value:
        raise ValueError("date is empty")
    if mapping.date_format:
        for fmt in mapping.date_format:
            try:
                parsed = datetime.strptime(value, fmt)
            except ValueError:
                continue
            has_time = any(code in fmt for code in ("%H", "%I", "%M"))
            return to_utc(parsed) if has_time else at_noon_utc(parsed.date())
        raise ValueError(f"date {value!r} does not match {' or '.join(mapping.date_format)}")
    try:
        parsed = date_parser.parse(value, dayfirst=mapping.dayfirst)
    except (ValueError, OverflowError) as err:
        raise ValueError(f"date {value!r} is not a date") from err
    return to_utc(parsed) if ":" in value else at_noon_utc(parsed.date())


def read_csv(
    data: bytes, mapping: CsvMapping | None = None, mappings: dict[str, CsvMapping] | None = None
) -> ParsedStatement:
    """Parse a CSV export with ``mapping``, or the best fit among ``mappings`` (default: shipped)."""
    if mapping is None:
        mapping = choose_mapping(data, mappings if mappings is not None else load_csv_mappings())
    text = _decode(data, mapping.encoding)
    reader = _reader(text, mapping)
    rows: list[tuple[int, list[str]]] = []
    try:
        skipped = 0
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            if skipped < mapping.skip_rows:
                skipped += 1
                continue
            if not any(cell.strip() for cell in row):
                continue
            rows.append((start, row))
    except csv.Error as err:
        raise StatementError(f"CSV file is malformed near line {reader.line_num}: {err}") from err

    index: dict[str, int] = {}
    if mapping.has_header:
        if not rows:
            raise StatementError("CSV file is empty: no header row")
        _, header_row = rows.pop(0)
        for i, cell in enumerate(normalise_header(header_row)):
            index.setdefault(cell.casefold(), i)

    def position(column: Column) -> int:
        if isinstance(column, int):
            return column
        try:
            return index[column.casefold()]
        except KeyError:
            shown = ", ".join(repr(h) for h in normalise_header(header_row))
            raise StatementError(
                f"CSV mapping {mapping.name!r} reads column {column!r}, which the header [{shown}] lacks"
            ) from None

    columns = {name: position(getattr(mapping, name)) for name in _COLUMN_FIELDS if getattr(mapping, name) is not None}
    entries: list[RawEntry | RowError] = [_row(line, row, columns, mapping) for line, row in rows]
    accounts = {e.account for e in entries if isinstance(e, RawEntry) and e.account}
    return ParsedStatement("csv", entries, len(rows), [], accounts)


_COLUMN_FIELDS = (
    "date_column",
    "amount_column",
    "debit_column",
    "credit_column",
    "credit_indicator_column",
    "description_column",
    "payee_column",
    "memo_column",
    "currency_column",
    "category_column",
    "account_column",
    "id_column",
    "balance_column",
)


def _row(line: int, row: list[str], columns: dict[str, int], mapping: CsvMapping) -> RawEntry | RowError:
    def cell(name: str) -> str:
        i = columns.get(name)
        return row[i].strip() if i is not None and i < len(row) else ""

    def raw(name: str) -> str | None:
        i = columns.get(name)
        return row[i] if i is not None and i < len(row) and row[i].strip() else None

    try:
        ts = _parse_date(cell("date_column"), mapping)
    except ValueError as err:
        return RowError(line, str(err))
    try:
        if "amount_column" in columns:
            amount = parse_amount(cell("amount_column"), mapping)
            if mapping.negate_amounts:
                amount = -amount
            if "credit_indicator_column" in columns:
                indicator = cell("credit_indicator_column").casefold()
                credits = {v.casefold() for v in mapping.credit_indicator_values}
                debits = {v.casefold() for v in mapping.debit_indicator_values}
                if indicator in credits:
                    amount = abs(amount)
                elif debits and indicator not in debits:
                    return RowError(
                        line, f"credit/debit indicator {indicator!r} is neither {sorted(credits)} nor {sorted(debits)}"
                    )
                else:
                    amount = -abs(amount)
        else:
            debit, credit = cell("debit_column"), cell("credit_column")
            if not debit and not credit:
                return RowError(line, f"no amount in {mapping.debit_column!r} or {mapping.credit_column!r}")
            amount = (abs(parse_amount(credit, mapping)) if credit else Decimal(0)) - (
                abs(parse_amount(debit, mapping)) if debit else Decimal(0)
            )
    except ValueError as err:
        return RowError(line, str(err))
    balance = None
    if "balance_column" in columns and cell("balance_column"):
        try:
            balance = parse_amount(cell("balance_column"), mapping)
        except ValueError:
            balance = None
    payee = cell("payee_column") or None
    return RawEntry(
        line=line,
        ts=ts,
        amount=amount,
        currency=(cell("currency_column").upper() or mapping.default_currency),
        description=compose_description(payee, cell("description_column"), cell("memo_column")),
        payee=payee,
        bank_id=cell("id_column") or None,
        account=cell("account_column") or None,
        balance_after=balance,
        source_category=cell("category_column") or None,
        merchant_text=raw("description_column") or raw("memo_column"),
    )
