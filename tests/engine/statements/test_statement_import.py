"""Bank-statement import on real exports (tests/data/statements) and on broken files."""

from __future__ import annotations

import csv
import json
import re
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from engine.categories import CATEGORIES, INCOME_CATEGORIES, SPEND_CATEGORIES
from engine.errors import ConfigError, InvalidInputError, StatementError
from engine.events import event_to_json
from engine.statements import (
    CsvMapping,
    RowError,
    StatementImport,
    account_hash,
    detect_format,
    load_csv_mappings,
    read_statement,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "statements"
FILES = sorted(p for p in DATA.glob("*/*") if p.parent.name != "licenses")
EXPECTED_FORMAT = {"ofx": "ofx", "camt053": "camt053", "mt940": "mt940", "csv": "csv"}


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _imp(rel: str, **kwargs) -> StatementImport:
    return read_statement(DATA / rel, customer_id="cust-1", **kwargs)


def _by_line(result: StatementImport) -> dict[int | None, object]:
    return dict(zip(result.transaction_lines, result.transactions))


def test_fixture_set_is_complete() -> None:
    assert len(FILES) == 23
    assert {p.parent.name for p in FILES} == {"ofx", "camt053", "mt940", "csv"}
    assert (DATA / "SOURCES.md").is_file()
    for path in FILES:
        assert path.name in (DATA / "SOURCES.md").read_text(encoding="utf-8"), path


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_every_file_parses_and_counts_add_up(path: Path) -> None:
    assert detect_format(path) == EXPECTED_FORMAT[path.parent.name]
    result = read_statement(path, customer_id="cust-1")
    assert result.format == EXPECTED_FORMAT[path.parent.name]
    assert result.source_count > 0
    assert len(result.transactions) + len(result.errors) == result.source_count
    assert result.complete
    assert len(result.transaction_lines) == len(result.transactions)
    for event in result.transactions:
        assert event.ts.tzinfo is not None and event.ts.utcoffset() is not None
        assert re.fullmatch(r"[A-Z]{3}", event.currency)
        assert event.category in CATEGORIES
        expected_side = INCOME_CATEGORIES if event.amount > 0 else SPEND_CATEGORIES
        assert event.category in expected_side, (event.description, event.amount, event.category)
        assert event.customer_id == "cust-1"
        assert event.account_id is None or re.fullmatch(r"[0-9a-f]{16}", event.account_id)
    lines = [line for line in result.transaction_lines if line is not None]
    assert lines == sorted(lines), "transactions are in file order"
    for error in result.errors:
        assert isinstance(error, RowError) and error.reason


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_reimport_gives_identical_event_ids(path: Path) -> None:
    first = read_statement(path, customer_id="cust-1")
    second = read_statement(path, customer_id="cust-1")
    ids = [e.event_id for e in first.transactions]
    assert ids == [e.event_id for e in second.transactions]
    assert len(set(ids)) == len(ids), "event ids are unique within a file"
    assert [b.event_id for b in first.balances] == [b.event_id for b in second.balances]
    # Another customer importing the same file gets other ids.
    other = read_statement(path, customer_id="cust-2")
    assert not set(ids) & {e.event_id for e in other.transactions}


def test_event_ids_survive_a_copy_of_the_file(tmp_path: Path) -> None:
    source = DATA / "csv" / "bank2ynab-bunq.csv"
    copy = tmp_path / "renamed-export.csv"
    copy.write_bytes(source.read_bytes())
    assert [e.event_id for e in read_statement(copy, customer_id="c").transactions] == [
        e.event_id for e in read_statement(source, customer_id="c").transactions
    ]


# --- exact values ------------------------------------------------------------------------


def test_decimal_comma_csv_signs_and_amounts() -> None:
    bunq = _imp("csv/bank2ynab-bunq.csv")
    assert bunq.format == "csv"
    assert [e.amount for e in bunq.transactions] == [
        Decimal("-8.78"),
        Decimal("-7.08"),
        Decimal("8.78"),
        Decimal("-8.76"),
        Decimal("7.08"),
        Decimal("-7.07"),
        Decimal("-7.99"),
    ]
    assert {e.currency for e in bunq.transactions} == {"EUR"}
    netflix = bunq.transactions[-1]
    assert netflix.merchant == "Netflix"
    assert netflix.category == "subscriptions"
    assert netflix.ts == datetime(2018, 12, 17, 12, 0, tzinfo=timezone.utc)

    outbank = _imp("csv/csv2ofx-outbank.csv")  # ';'-separated, decimal comma, currency column
    assert [e.amount for e in outbank.transactions] == [
        Decimal("100.00"),
        Decimal("-63.89"),
        Decimal("-47.00"),
        Decimal("-25.00"),
    ]
    assert outbank.transactions[1].ts == datetime(2019, 2, 8, 12, 0, tzinfo=timezone.utc)  # 2/8/19 is month-first


def test_debit_credit_columns_csv() -> None:
    schwab = _imp("csv/csv2ofx-schwab-checking.csv")
    assert [e.amount for e in schwab.transactions] == [
        Decimal("20.00"),
        Decimal("-103.00"),
        Decimal("-75.00"),
        Decimal("-57.27"),
    ]
    assert schwab.transactions[0].balance_after == Decimal("878.47")
    assert schwab.transactions[3].balance_after == Decimal("1036.47")  # "$1,036.47"
    assert schwab.transactions[1].category == "cash"  # Type ATM


def test_card_export_with_cr_column_and_pending_rows() -> None:
    card = _imp("csv/bank2ynab-ms-creditcard.csv")
    assert card.source_count == 13
    assert [(e.line, e.reason) for e in card.errors] == [
        (2, "date 'Pending' does not match %d-%b-%Y"),
        (3, "date 'Pending' does not match %d-%b-%Y"),
        (4, "date 'Pending' does not match %d-%b-%Y"),
    ]
    rows = _by_line(card)
    assert rows[5].amount == Decimal("-1183.23")  # "£1,183.23" purchase leaves the account
    assert rows[14].amount == Decimal("1100.00")  # "+ £1,100.00",CR
    assert rows[12].category == "subscriptions"
    assert rows[12].merchant == "Spotify"
    assert {e.currency for e in card.transactions} == {"GBP"}


def test_indicator_column_and_day_first_dates() -> None:
    mint = _imp("csv/csv2ofx-mint.csv")  # CR line ends, "debit"/"credit" column
    assert [e.amount for e in mint.transactions] == [
        Decimal("-1000.00"),
        Decimal("-1500.00"),
        Decimal("2000.00"),
        Decimal("-2500.00"),
    ]
    ing = _imp("csv/csv2ofx-ingesp.csv")
    assert ing.transactions[3].ts.date().isoformat() == "2022-12-23"
    assert ing.transactions[3].category == "salary"
    assert ing.transactions[6].amount == Decimal("-1000.00")
    assert ing.transactions[6].category == "cash"


def test_ofx_values_and_balances() -> None:
    medium = _imp("ofx/bank_medium.ofx")
    first = medium.transactions[0]
    assert first.amount == Decimal("-6.60")
    assert first.currency == "CAD"
    # 20090401122017.000[-5:EST] is 17:20:17 UTC
    assert first.ts == datetime(2009, 4, 1, 17, 20, 17, tzinfo=timezone.utc)
    assert first.merchant == "Mcdonald's"
    assert first.category == "dining"
    assert [b.balance for b in medium.balances] == [Decimal("382.34")]  # LEDGERBAL, not AVAILBAL

    suncorp = _imp("ofx/suncorp.ofx")
    assert suncorp.transactions[0].ts == datetime(2013, 12, 15, 12, 0, tzinfo=timezone.utc)  # date only
    assert suncorp.transactions[0].merchant == "Aldi Store"
    assert suncorp.transactions[0].category == "groceries"
    assert _imp("ofx/anzcc.ofx").balances[0].balance == Decimal("-123.45")


def test_camt053_values_and_closing_balance() -> None:
    one = _imp("camt053/okane-test1.xml")
    assert [(e.amount, e.currency) for e in one.transactions] == [
        (Decimal("1500.00"), "CZK"),
        (Decimal("-500.00"), "CZK"),
    ]
    assert one.transactions[0].ts == datetime(2023, 3, 10, 12, 0, tzinfo=timezone.utc)  # BookgDt
    assert one.transactions[0].description == "Incoming payment"
    assert [(b.balance, b.currency) for b in one.balances] == [(Decimal("2000.00"), "CZK")]  # CLBD
    # Both entries carry AcctSvcrRef "XXX": the entry reference keeps their ids apart.
    assert one.transactions[0].event_id != one.transactions[1].event_id
    two = _imp("camt053/okane-test2.xml")
    assert two.source_count == 6 and [e.amount for e in two.transactions][:2] == [
        Decimal("-100.00"),
        Decimal("-200.00"),
    ]


def test_mt940_values_balances_and_multiple_statements() -> None:
    cmxl = _imp("mt940/cmxl-mt940.sta")
    rows = _by_line(cmxl)
    assert rows[7].amount == Decimal("-620.3")
    assert rows[7].currency == "DEM"
    assert rows[36].amount == Decimal("-800")
    assert rows[36].category == "rent"  # Miete November
    assert rows[38].amount == Decimal("3000")
    assert rows[38].category == "salary"  # Gehalt Oktober
    assert len({e.account_id for e in cmxl.transactions}) == 3  # three statements, three accounts
    assert [b.balance for b in cmxl.balances] == [Decimal("84437.04"), Decimal("4387.95"), Decimal("50040.00")]

    rabo = _imp("mt940/jejik-rabobank.sta")
    assert rabo.transaction_lines == [6, 23, 26, 34, 39]
    assert len({e.account_id for e in rabo.transactions}) == 2
    assert _by_line(rabo)[23].category == "utilities"  # T-Mobile

    abn = _imp("mt940/jejik-abnamro.sta")
    mcd = _by_line(abn)[16]
    assert mcd.amount == Decimal("-11.8")
    assert mcd.merchant == "Mc Donalds A44"
    assert mcd.category == "dining"
    assert mcd.ts == datetime(2011, 5, 22, 12, 0, tzinfo=timezone.utc)


def test_mt940_balance_without_currency_is_skipped() -> None:
    # The raphaelm fixture states closing balances without a currency code.
    result = _imp("mt940/self-provided-raphaelm.sta")
    assert result.balances == []
    assert result.source_count == 9
    assert len(result.transactions) == 9


# --- privacy -----------------------------------------------------------------------------


def _account_numbers(path: Path) -> set[str]:
    """Account numbers and IBANs that the file states for its own accounts."""
    text = path.read_text(encoding="utf-8", errors="replace")
    found: set[str] = set()
    found.update(m.strip() for m in re.findall(r"<ACCTID>\s*([^<\r\n]+)", text, re.IGNORECASE))
    found.update(m.strip() for m in re.findall(r"<IBAN>\s*([^<\s]+)", text))
    for m in re.findall(r"^:25:(.+)$", text, re.MULTILINE):
        found.add(m.strip())
        found.update(part for part in re.split(r"/", m.strip()) if sum(c.isdigit() for c in part) >= 5)
    if path.suffix == ".csv":
        found.update(re.findall(r"\b[A-Z]{2}\d{2}[A-Z0-9]{11,30}\b", text))  # IBANs anywhere in the export
    return {f for f in found if sum(c.isdigit() for c in f) >= 5}


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_no_raw_account_number_in_any_event(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    result = read_statement(path, customer_id="cust-1")
    dumped = "\n".join(event_to_json(e).decode() for e in [*result.transactions, *result.balances])
    for number in _account_numbers(path):
        assert number not in dumped, number
        assert number not in caplog.text, number
    for event in result.transactions:
        assert not re.search(r"\b[A-Z]{2}\d{2}[A-Z0-9]{11,30}\b", event.description)
        assert not re.search(r"\d{7,}", event.description)


def test_account_hash_is_keyed_and_short() -> None:
    plain = account_hash("NL26BUNQ2025126409")
    assert plain is not None and re.fullmatch(r"[0-9a-f]{16}", plain)
    assert account_hash("nl26 bunq 2025 1264 09") == plain
    assert account_hash("NL26BUNQ2025126409", b"another-salt") != plain
    assert account_hash(None) is None
    events = read_statement(DATA / "csv" / "bank2ynab-bunq.csv", customer_id="c", account_salt=b"s2").transactions
    assert {e.account_id for e in events} == {account_hash("NL26BUNQ2025126409", b"s2")}


# --- malformed input ---------------------------------------------------------------------


def test_malformed_csv_rows_are_reported_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        '"Date","Amount","Account","Counterparty","Name","Description"\n'
        '"2018-12-06","-8,78","NL26BUNQ2025126409","","SHOP","ok row"\n'
        '"2018-13-45","-1,00","NL26BUNQ2025126409","","SHOP","bad date"\n'
        '"2018-12-07","abc","NL26BUNQ2025126409","","SHOP","bad amount"\n'
        '"","-2,00","NL26BUNQ2025126409","","SHOP","no date"\n'
        "\n"
        '"2018-12-08","12,50","NL26BUNQ2025126409","","SHOP","ok again"\n',
        encoding="utf-8",
    )
    result = read_statement(path, customer_id="c")
    assert result.source_count == 5
    assert [e.amount for e in result.transactions] == [Decimal("-8.78"), Decimal("12.50")]
    assert result.transaction_lines == [2, 7]
    assert [e.line for e in result.errors] == [3, 4, 5]
    assert "2018-13-45" in result.errors[0].reason
    assert "amount 'abc' is not a number" in result.errors[1].reason
    assert "date is empty" in result.errors[2].reason


def test_malformed_mt940_line_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "broken.sta"
    path.write_text(
        ":20:STMT1\n:25:NL00BANK0123456789\n:28C:1/1\n:60F:C200101EUR100,00\n"
        ":61:2001020102D10,00NTRFNONREF\n:86:first\n"
        ":61:XXXXXXD10,00NTRFNONREF\n:86:broken date\n"
        ":61:2001030103C5,50NTRFNONREF\n:86:salary payroll\n"
        ":62F:C200103EUR95,50\n",
        encoding="utf-8",
    )
    result = read_statement(path, customer_id="c")
    assert result.format == "mt940"
    assert result.source_count == 3
    assert [e.amount for e in result.transactions] == [Decimal("-10.00"), Decimal("5.50")]
    assert result.transaction_lines == [5, 9]
    assert len(result.errors) == 1
    assert result.errors[0].line == 7
    assert ":61:" in result.errors[0].reason
    assert result.transactions[1].category == "salary"
    assert "NL00BANK0123456789" not in json.dumps([e.model_dump(mode="json") for e in result.transactions])


def test_malformed_ofx_transaction_is_reported(tmp_path: Path) -> None:
    text = (DATA / "ofx" / "checking.ofx").read_text(encoding="latin-1")
    broken = text.replace("<TRNAMT>-34.51", "<TRNAMT>twelve", 1)
    path = tmp_path / "broken.ofx"
    path.write_text(broken, encoding="latin-1")
    result = read_statement(path, customer_id="c")
    assert result.source_count == 3
    assert len(result.transactions) == 2
    assert result.errors[0].line == 54
    assert "twelve" in result.errors[0].reason
    assert result.transaction_lines == [46, 62]


def test_malformed_camt_entry_is_reported(tmp_path: Path) -> None:
    text = (DATA / "camt053" / "okane-test1.xml").read_text(encoding="utf-8")
    broken = text.replace('<Amt Ccy="CZK">500.00</Amt>', '<Amt Ccy="CZK">5OO</Amt>', 1)
    path = tmp_path / "broken.xml"
    path.write_text(broken, encoding="utf-8")
    result = read_statement(path, customer_id="c")
    assert result.source_count == 2
    assert len(result.transactions) == 1
    assert result.errors == [RowError(146, "Ntry amount '5OO' is not a number")]


@pytest.mark.parametrize(
    "name, content",
    [
        ("notes.txt", b"Dear customer,\nthis is a letter and not a statement\n"),
        ("image.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00"),
        ("empty.csv", b""),
        ("other.xml", b"<?xml version='1.0'?><catalog><book/></catalog>"),
    ],
)
def test_a_file_that_is_no_statement_raises(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(StatementError):
        read_statement(path, customer_id="c")


def test_missing_file_raises_statement_error(tmp_path: Path) -> None:
    with pytest.raises(StatementError, match="cannot read"):
        read_statement(tmp_path / "nope.ofx", customer_id="c")
    with pytest.raises(StatementError, match="unknown statement format"):
        read_statement(DATA / "ofx" / "anzcc.ofx", customer_id="c", format="pdf")


# --- CSV mappings ------------------------------------------------------------------------


def test_every_shipped_csv_fixture_has_a_named_mapping() -> None:
    names = set(load_csv_mappings())
    assert {
        "bunq",
        "uk_credit_card",
        "csv2ofx_creditunion",
        "csv2ofx_default",
        "ing_spain",
        "mint",
        "n26_fr",
        "outbank",
        "schwab_checking",
        "xero",
    } <= names


def test_unknown_header_names_the_header_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "mystery.csv"
    path.write_text("Buchungstag;Betrag;Verwendungszweck\n01.02.2024;-12,00;Kaffee\n", encoding="utf-8")
    with pytest.raises(StatementError) as info:
        read_statement(path, customer_id="c")
    message = str(info.value)
    assert "'Buchungstag'" in message
    assert "'Verwendungszweck'" in message
    assert "csv_mapping" in message
    assert isinstance(info.value, InvalidInputError)


def test_explicit_mapping_wins(tmp_path: Path) -> None:
    path = tmp_path / "mystery.csv"
    path.write_text(
        "Buchungstag;Betrag;Verwendungszweck;Waehrung\n"
        "01.02.2024;-1.234,50;Miete Februar;EUR\n"
        "03.02.2024;2.500,00;Gehalt Januar;\n",
        encoding="cp1252",
    )
    mapping = CsvMapping(
        delimiter=";",
        encoding="cp1252",
        date_column="Buchungstag",
        date_format="%d.%m.%Y",
        amount_column="Betrag",
        decimal_separator=",",
        thousands_separator=".",
        description_column="Verwendungszweck",
        currency_column="Waehrung",
        default_currency="CHF",
    )
    result = read_statement(path, customer_id="c", csv_mapping=mapping)
    assert [(e.amount, e.currency, e.category) for e in result.transactions] == [
        (Decimal("-1234.50"), "EUR", "rent"),
        (Decimal("2500.00"), "CHF", "salary"),  # empty currency cell: the mapping's default
    ]
    # The same mapping as a YAML file path.
    yaml_path = tmp_path / "mapping.yaml"
    yaml_path.write_text(
        "delimiter: ';'\nencoding: cp1252\ndate_column: Buchungstag\ndate_format: '%d.%m.%Y'\n"
        "amount_column: Betrag\ndecimal_separator: ','\nthousands_separator: '.'\n"
        "description_column: Verwendungszweck\ncurrency_column: Waehrung\ndefault_currency: CHF\n",
        encoding="utf-8",
    )
    again = read_statement(path, customer_id="c", csv_mapping=yaml_path)
    assert [e.event_id for e in again.transactions] == [e.event_id for e in result.transactions]


def test_explicit_mapping_overrides_the_shipped_one() -> None:
    # Read the bunq export with a mapping that ignores the Name column and assumes USD.
    mapping = CsvMapping(
        date_column="Date",
        date_format="%Y-%m-%d",
        amount_column="Amount",
        decimal_separator=",",
        description_column="Description",
        default_currency="USD",
    )
    result = _imp("csv/bank2ynab-bunq.csv", csv_mapping=mapping)
    assert {e.currency for e in result.transactions} == {"USD"}
    assert {e.account_id for e in result.transactions} == {None}


def test_invalid_mapping_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="default_currency"):
        CsvMapping(date_column="d", amount_column="a", description_column="t")
    with pytest.raises(ValueError, match="not both"):
        CsvMapping(
            date_column="d",
            amount_column="a",
            debit_column="x",
            credit_column="y",
            description_column="t",
            default_currency="EUR",
        )
    bad = tmp_path / "bad.yaml"
    bad.write_text("date_column: d\n", encoding="utf-8")
    csv_path = DATA / "csv" / "bank2ynab-bunq.csv"
    with pytest.raises(ConfigError):
        read_statement(csv_path, customer_id="c", csv_mapping=bad)


def test_occurrence_index_keeps_identical_rows_apart(tmp_path: Path) -> None:
    path = tmp_path / "dupes.csv"
    header = '"Date","Amount","Account","Counterparty","Name","Description"\n'
    row = '"2020-01-01","-3,50","NL26BUNQ2025126409","","CAFE","Coffee"\n'
    path.write_text(header + row + row + row, encoding="utf-8")
    ids = [e.event_id for e in read_statement(path, customer_id="c").transactions]
    assert len(set(ids)) == 3
    # A later export with one more, different row keeps the earlier ids.
    path.write_text(
        header + '"2019-12-31","-1,00","NL26BUNQ2025126409","","X","Other"\n' + row + row + row, encoding="utf-8"
    )
    later = [e.event_id for e in read_statement(path, customer_id="c").transactions]
    assert later[1:] == ids


# --- labels line up with what the importer reads -----------------------------------------


def test_labels_cover_every_imported_transaction() -> None:
    with (DATA / "labels.csv").open(encoding="utf-8", newline="") as handle:
        labels = {(r["file"], int(r["line_or_index"])): r for r in csv.DictReader(handle)}
    seen = set()
    for path in FILES:
        rel = _id(path)
        result = read_statement(path, customer_id="c")
        keys = {(rel, line) for line in result.transaction_lines} | {(rel, e.line) for e in result.errors}
        assert len(keys) == result.source_count
        for line, event in zip(result.transaction_lines, result.transactions):
            label = labels[(rel, line)]
            assert Decimal(label["amount"]) == event.amount
            assert label["expected_category"] in CATEGORIES
        seen |= keys
    assert seen == set(labels)


def test_headerless_csv_with_index_columns_and_dayfirst(tmp_path: Path) -> None:
    path = tmp_path / "noheader.csv"
    path.write_text(
        "Exported by MyBank\n03/04/2024\tALBERT HEIJN 1234 AMSTERDAM\t-23.10\n"
        "04/04/2024 08:15\tSALARIS APRIL\t2500.00\n",
        encoding="utf-8",
    )
    mapping = CsvMapping(
        delimiter="\t",
        has_header=False,
        skip_rows=1,
        date_column=0,
        dayfirst=True,
        amount_column=2,
        description_column=1,
        default_currency="EUR",
    )
    result = read_statement(path, customer_id="c", csv_mapping=mapping)
    assert result.source_count == 2
    assert not result.errors
    first, second = result.transactions
    assert first.ts == datetime(2024, 4, 3, 12, 0, tzinfo=timezone.utc)  # 3 April, noon UTC
    assert second.ts == datetime(2024, 4, 4, 8, 15, tzinfo=timezone.utc)  # a time of day is kept
    assert (first.merchant, first.category) == ("Albert Heijn", "groceries")
    assert second.category == "salary"
    with pytest.raises(ValueError, match="0-based indices"):
        CsvMapping(has_header=False, date_column="Date", amount_column=1, description_column=2, default_currency="EUR")
