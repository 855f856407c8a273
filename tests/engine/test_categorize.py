"""Merchant normalisation and the rule-based categoriser, with accuracy on labelled exports."""

from __future__ import annotations

import csv
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from engine.categories import CATEGORIES, INCOME_CATEGORIES, SPEND_CATEGORIES
from engine.categorize import (
    CONFIG_DIR,
    DATA_DIR,
    categorize,
    load_category_rules,
    load_mcc_table,
    mcc_category,
    normalize_merchant,
)
from engine.errors import ConfigError

LABELS = Path(__file__).resolve().parents[1] / "data" / "statements" / "labels.csv"

# Accuracy of categorize() on tests/data/statements/labels.csv, measured when the labels
# were written (before any rule was tuned on them): 115 of 138 = 83.3 %. After one generic
# rule (an unknown merchant at a card terminal counts as shopping): 118 of 138 = 85.5 %.
# The test allows three points below that for harmless rule edits.
MEASURED_ACCURACY = 118 / 138
ACCURACY_THRESHOLD = 0.82


def _labels() -> list[dict[str, str]]:
    with LABELS.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_categoriser_accuracy_on_labelled_transactions() -> None:
    rows = _labels()
    assert len(rows) == 138
    hits = 0
    confusion: Counter[tuple[str, str]] = Counter()
    for row in rows:
        amount = Decimal(row["amount"])
        got = categorize(row["description"], merchant=normalize_merchant(row["description"]) or None, amount=amount)
        hits += got == row["expected_category"]
        if got != row["expected_category"]:
            confusion[(row["expected_category"], got)] += 1
    accuracy = hits / len(rows)
    assert accuracy >= ACCURACY_THRESHOLD, f"accuracy {accuracy:.3f} < {ACCURACY_THRESHOLD}; misses {confusion}"


def test_labels_are_valid() -> None:
    for row in _labels():
        assert row["expected_category"] in CATEGORIES
        side = INCOME_CATEGORIES if Decimal(row["amount"]) > 0 else SPEND_CATEGORIES
        assert row["expected_category"] in side, row
        assert row["is_recurring"] in ("true", "false")


@pytest.mark.parametrize(
    "description, amount, expected",
    [
        ("NETFLIX.COM 14087249160, NL", "-7.99", "subscriptions"),
        ("Spotify UK             London        GBR", "-9.99", "subscriptions"),
        ("SAINSBURYS SACAT 0602  LADBROKE GROV GBR", "-8.20", "groceries"),
        ("EFTPOS WDL HANDYWAY ALDI STORE   GEELONG WEST VICAU", "-16.85", "groceries"),
        ("Nomina recibida G PLCE SL.", "1394.11", "salary"),
        ("UEBERWEISUNG Gehalt Oktober Firma Mustermann GmbH", "3000", "salary"),
        ("Salaris mei", "2500", "salary"),
        ("ACME CORP PAYROLL", "2100", "salary"),
        ("DAUERAUFTRAG Miete November", "-800", "rent"),
        ("Huur juni", "-950", "rent"),
        ("Alquiler piso", "-700", "rent"),
        ("Reintegro efectivo tarjeta B.B.V.A. MAT", "-1000", "cash"),
        ("GELDAUTOMAT BERLIN HBF", "-50", "cash"),
        ("ATM WITHDRAWAL 123 MAIN ST", "-60", "cash"),
        ("RETURNED CHECK FEE, CHECK # 319", "-25", "fees"),
        ("RC AFREKENING BETALINGSVERKEER tarifering ING", "-25.03", "fees"),
        ("Poplatek za vedení účtu", "-49", "fees"),
        ("Refund: CLOUDFLARE (650-3198939, US)", "8.78", "refund"),
        ("Devolución Tarjeta AMZN Mktp ES", "1.37", "refund"),
        ("Traspaso recibido Cuenta Nómina", "500", "transfers_in"),
        ("Transferencia emitida a Salesians Mataro casal", "-219.30", "transfers_out"),
        ("Odsetki od lokaty nr 101000022086", "40", "other_income"),
        ("DIVIDEND EARNED FOR PERIOD OF 03/01/2011", "0.01", "other_income"),
        ("AUTOMATIC WITHDRAWAL, ELECTRIC BILL WEB(S )", "-34.51", "utilities"),
        ("T-MOBILE NETHERLANDS BV FACTUURNUMMER 987654321", "-44.95", "utilities"),
        ("BEA NR:XXX1234 22.05.11/14.25 MC DONALDS A44 LEIDEN,PAS999", "-11.8", "dining"),
        ("Pago en SPORTS BAR DANI JARQUE", "-17.60", "dining"),
        ("TFL TRAVEL CH          TFL.GOV.UK/CP GBR", "-1.50", "transport"),
        ("NS-Utrecht C. 117 UTRECHT Betaalautomaat", "-6.20", "transport"),
        ("Apotheke am Markt", "-12.30", "health"),
        ("Kino Babylon", "-11", "entertainment"),
        ("RYANAIR FR1234", "-89.99", "travel"),
        ("Hypotheek rente en aflossing", "-900", "loan_repayment"),
        ("something nobody knows", "-5", "other"),
        ("something nobody knows", "5", "transfers_in"),
    ],
)
def test_categorize_examples(description: str, amount: str, expected: str) -> None:
    assert categorize(description, amount=Decimal(amount)) == expected


def test_sign_decides_the_side() -> None:
    for amount in ("-10", "0"):
        assert categorize("Netflix refund", amount=Decimal(amount)) in SPEND_CATEGORIES
    assert categorize("Netflix refund", amount=Decimal("10")) == "refund"


def test_mcc_maps_through_the_iso_18245_table() -> None:
    table = load_mcc_table()
    assert len(table) > 900
    assert "Grocery" in table["5411"]
    assert mcc_category("5411") == "groceries"
    assert mcc_category("5812") == "dining"
    assert mcc_category("3005") == "travel"  # airline range
    assert mcc_category("6011") == "cash"
    assert mcc_category("5912") == "health"
    assert mcc_category("742") is None or mcc_category("742") in SPEND_CATEGORIES  # zero-padded 0742
    assert mcc_category("0000") is None
    assert mcc_category("abc") is None
    assert mcc_category(None) is None
    assert categorize("UNKNOWN MERCHANT 123", mcc="5411", amount=Decimal("-3")) == "groceries"
    # A brand beats the MCC, the MCC beats generic words.
    assert categorize("NETFLIX", mcc="5999", amount=Decimal("-8")) == "subscriptions"
    assert categorize("Transfer store 12", mcc="5812", amount=Decimal("-8")) == "dining"
    # Money back from a card merchant is a refund.
    assert categorize("UNKNOWN MERCHANT", mcc="5411", amount=Decimal("3")) == "refund"


@pytest.mark.parametrize(
    "description, expected",
    [
        ("POS MERCHANDISE;MCDONALD'S #112", "Mcdonald's"),
        ("EFTPOS WDL HANDYWAY ALDI STORE   GEELONG WEST VICAU", "Aldi Store"),
        ("BEA   NR:XXX1234   22.05.11/14.25 MC DONALDS A44 LEIDEN,PAS999", "Mc Donalds A44"),
        ("SAINSBURYS SACAT 0602  LADBROKE GROV GBR", "Sainsburys Sacat"),
        ("NETFLIX.COM 14087249160, NL", "Netflix"),
        ("CLOUDFLARE 650-3198939, US 9.95 USD, 1 USD = 0.88241 EUR", "Cloudflare"),
        ("NOWTV.COM/BILLINGHELP    SKY          GBR", "Nowtv"),
        ("DELIVEROO.CO.UK        LONDON        LND", "Deliveroo"),
        ("T-MOBILE NETHERLANDS BV", "T-mobile Netherlands"),
        ("Pago en SPORTS BAR DANI JARQUE S BOI LLOBREGES", "Sports Bar Dani Jarque S Boi Llobreges"),
        ("Transferencia emitida a Salesians Mataro casal", "Salesians Mataro Casal"),
        ("PP.1234.PP . STEAM GAMES, Your purchase at STEAM GAMES", "Steam Games"),
        ("Betaalautomaat 14:23 pasnr. 065", ""),
        ("", ""),
    ],
)
def test_normalize_merchant(description: str, expected: str) -> None:
    assert normalize_merchant(description) == expected


def test_rules_load_once_and_locate_the_repo_config() -> None:
    assert CONFIG_DIR.name == "configs"
    assert (CONFIG_DIR / "categories.yaml").is_file()
    assert (DATA_DIR / "mcc_codes.csv").is_file()
    assert (DATA_DIR / "mcc_codes.LICENSE").is_file()
    assert load_category_rules() is load_category_rules()


def test_bad_rules_file_is_a_config_error(tmp_path: Path) -> None:
    bad_category = tmp_path / "bad.yaml"
    bad_category.write_text("spend:\n  keywords:\n    sweets: [candy]\nincome: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="sweets"):
        load_category_rules(bad_category)
    wrong_side = tmp_path / "side.yaml"
    wrong_side.write_text("spend: {}\nincome:\n  keywords:\n    groceries: [aldi]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="groceries"):
        load_category_rules(wrong_side)
    with pytest.raises(ConfigError):
        load_category_rules(tmp_path / "missing.yaml")


def test_custom_rules_can_be_passed(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "spend:\n  merchants:\n    entertainment: [circus*]\n  fallback: shopping\n"
        "income:\n  keywords:\n    - salary: [stipend]\n  fallback: other_income\n",
        encoding="utf-8",
    )
    rules = load_category_rules(path)
    assert categorize("CIRCUSZIRKUS tickets", amount=Decimal("-20"), rules=rules) == "entertainment"
    assert categorize("whatever", amount=Decimal("-20"), rules=rules) == "shopping"
    assert categorize("Research stipend", amount=Decimal("900"), rules=rules) == "salary"
    assert categorize("whatever", amount=Decimal("900"), rules=rules) == "other_income"
