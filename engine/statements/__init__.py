"""Bank-statement import: OFX/QFX, ISO 20022 camt.053, SWIFT MT940 and CSV exports.

    >>> result = read_statement("statement.sta", customer_id="c-123")   # doctest: +SKIP
    >>> result.format, len(result.transactions), result.errors, result.source_count

Every transaction becomes a :class:`~engine.events.TransactionEvent`:

- amount signed from the customer's side (negative leaves the account), with the file's
  ISO 4217 currency, else the CSV mapping's ``default_currency``;
- ``ts`` timezone-aware; a date without a time of day is 12:00 UTC;
- ``account_id`` a keyed BLAKE2b hash of the account number (16 hex characters, key
  ``account_salt``); account numbers and IBANs in the bank's text are masked;
- ``event_id`` stable across re-imports of the same file: a hash of the customer, the
  account hash and the bank's transaction id (FITID, AcctSvcrRef/NtryRef, MT940 bank
  reference, a CSV id column), else of date, amount, description and the row's
  occurrence among identical rows;
- ``merchant`` the normalised merchant name and ``category`` from
  :func:`engine.categorize.categorize` (a CSV category column that names one of
  offerloop's categories is kept).

A malformed entry becomes a :class:`RowError` (line and reason) and the import goes on;
a file that is no statement raises :class:`~engine.errors.StatementError`.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.errors import StatementError
from engine.statements._common import RowError, StatementImport, account_hash, build_import
from engine.statements.mapping import CsvMapping, load_csv_mappings, load_mapping_file

__all__ = [
    "FORMATS",
    "CsvMapping",
    "RowError",
    "StatementImport",
    "account_hash",
    "detect_format",
    "load_csv_mappings",
    "read_statement",
]

FORMATS: tuple[str, ...] = ("ofx", "camt053", "mt940", "csv")
_ALIASES = {
    "ofx": "ofx",
    "qfx": "ofx",
    "camt053": "camt053",
    "camt.053": "camt053",
    "camt": "camt053",
    "mt940": "mt940",
    "sta": "mt940",
    "swift": "mt940",
    "csv": "csv",
}
_HEAD_BYTES = 65536


def _detect(data: bytes, name: str) -> str:
    from engine.statements.camt053 import looks_like_camt
    from engine.statements.csvfile import looks_like_csv
    from engine.statements.mt940 import looks_like_mt940
    from engine.statements.ofx import looks_like_ofx

    head = data[:_HEAD_BYTES]
    if not head.strip():
        raise StatementError(f"{name} is empty, not a bank statement")
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    if looks_like_ofx(text):
        return "ofx"
    if text.lstrip().startswith("<"):
        if looks_like_camt(text):
            return "camt053"
        raise StatementError(f"{name} is XML but neither OFX nor camt.053 (no BkToCstmrStmt element)")
    if looks_like_mt940(text):
        return "mt940"
    if b"\x00" not in head and looks_like_csv(text):
        return "csv"
    raise StatementError(f"{name} is not a bank statement: not OFX, camt.053, MT940 or delimited text")


def detect_format(path: str | os.PathLike[str]) -> str:
    """Return 'ofx', 'camt053', 'mt940' or 'csv' from the file's content.

    Raises:
        StatementError: the file cannot be read or is none of these formats.
    """
    target = Path(path)
    try:
        with target.open("rb") as handle:
            head = handle.read(_HEAD_BYTES)
    except OSError as err:
        raise StatementError(f"cannot read statement file {target}: {err.strerror or err}") from err
    return _detect(head, target.name)


def read_statement(
    path: str | os.PathLike[str],
    *,
    customer_id: str,
    csv_mapping: CsvMapping | str | os.PathLike[str] | None = None,
    format: str | None = None,
    account_salt: bytes = b"offerloop",
) -> StatementImport:
    """Import one statement file.

    Args:
        path: the file.
        customer_id: pseudonymised customer the events belong to.
        csv_mapping: for CSV files, a :class:`CsvMapping` or the path of a YAML file holding
            one mapping (or a ``mappings:`` set to match the header against); wins over
            the mappings shipped in ``configs/statements/csv_mappings.yaml``. Giving one
            implies ``format='csv'`` unless ``format`` says otherwise.
        format: 'ofx', 'camt053', 'mt940' or 'csv' to skip detection.
        account_salt: key of the account-number hash (at most 64 bytes are used as is).

    Raises:
        StatementError: unreadable file, no statement, unknown CSV header.
        ConfigError: the CSV mapping YAML file is missing or invalid.
    """
    if not isinstance(customer_id, str) or not customer_id.strip():
        raise StatementError("customer_id must be a non-empty string")
    if not isinstance(account_salt, (bytes, bytearray)):
        raise StatementError("account_salt must be bytes")
    target = Path(path)
    try:
        data = target.read_bytes()
    except OSError as err:
        raise StatementError(f"cannot read statement file {target}: {err.strerror or err}") from err

    if format is not None:
        fmt = _ALIASES.get(str(format).strip().lower())
        if fmt is None:
            raise StatementError(f"unknown statement format {format!r}; use one of {', '.join(FORMATS)}")
    elif csv_mapping is not None:
        fmt = "csv"
    else:
        fmt = _detect(data, target.name)

    if fmt == "ofx":
        from engine.statements.ofx import read_ofx

        parsed = read_ofx(data)
    elif fmt == "camt053":
        from engine.statements.camt053 import read_camt053

        parsed = read_camt053(data)
    elif fmt == "mt940":
        from engine.statements.mt940 import read_mt940

        parsed = read_mt940(data)
    else:
        from engine.statements.csvfile import read_csv

        if csv_mapping is None or isinstance(csv_mapping, CsvMapping):
            parsed = read_csv(data, csv_mapping)
        else:
            mappings = load_mapping_file(csv_mapping)
            only = next(iter(mappings.values())) if len(mappings) == 1 else None
            parsed = read_csv(data, only, mappings)
    return build_import(parsed, customer_id=customer_id, account_salt=bytes(account_salt))
