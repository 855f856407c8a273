"""Eligibility: an offer outside its validity dates is excluded with that reason."""

from __future__ import annotations

from datetime import date, datetime, timezone

from engine.config.offers import OfferCatalog, OfferSpec
from engine.eligibility import CompiledCatalog

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=timezone.utc)


def _offer(name: str, **fields: object) -> OfferSpec:
    return OfferSpec(
        id=f"offer-{name}",
        title=f"Offer {name}",
        actionUrl=f"app://offers/{name}",
        category="savings",
        business_value=1.0,
        **fields,
    )


def test_validity_dates_exclude_outside_offers() -> None:
    catalog = OfferCatalog(
        offers=(
            _offer("open"),
            _offer("current", valid_from=date(2026, 6, 1), valid_until=date(2026, 6, 30)),
            _offer("last-day", valid_until=date(2026, 6, 15)),
            _offer("expired", valid_until=date(2026, 6, 14)),
            _offer("future", valid_from=date(2026, 6, 16)),
        )
    )

    result = CompiledCatalog(catalog).filter({}, {}, NOW)

    assert [offer.id for offer in result.eligible] == ["offer-open", "offer-current", "offer-last-day"]
    assert result.ineligible == {
        "offer-expired": "outside validity dates",
        "offer-future": "outside validity dates",
    }
