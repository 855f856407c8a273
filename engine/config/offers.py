"""Offer catalog: what can be shown, to whom, how often, and what it is worth."""

from __future__ import annotations

import difflib
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from engine.config.durations import Duration
from engine.errors import UnknownOfferError

__all__ = ["OFFER_CATEGORIES", "ContactPolicy", "OfferSpec", "OfferCatalog"]

OFFER_CATEGORIES: tuple[str, ...] = (
    "credit",
    "savings",
    "investment",
    "insurance",
    "service",
    "education",
    "liquidity",
)


class ContactPolicy(BaseModel):
    """How often one offer may be shown to one customer."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    max_impressions: int = Field(default=3, ge=1, le=1000, description="Impressions allowed per window.")
    window: Duration = Field(default="7d", description="Sliding window for max_impressions.")
    cooldown_after_reject: Duration = Field(default="30d", description="No impression for this long after a reject.")
    cooldown_after_accept: Duration = Field(default="90d", description="No impression for this long after an accept.")


class OfferSpec(BaseModel):
    """One offer or piece of content in the catalog."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,63}$")
    title: str = Field(min_length=3, max_length=120)
    action_url: HttpUrl | str = Field(alias="actionUrl")
    category: Literal["credit", "savings", "investment", "insurance", "service", "education", "liquidity"]
    business_value: float = Field(ge=0.0, le=100.0, description="Relative value to the bank of one accept.")
    eligibility: str = Field(default="true", description="Rule over profile features, in the rule language.")
    contact: ContactPolicy = ContactPolicy()
    mandatory: bool = Field(default=False, description="Always placed first when eligible (regulatory notices).")
    transactional: bool = Field(default=False, description="Service message: exempt from contact limits.")
    valid_from: date | None = None
    valid_until: date | None = None
    reason_hint: str | None = Field(default=None, max_length=200, description="Phrase used when no feature stands out.")

    @field_validator("action_url")
    @classmethod
    def _check_url(cls, value: object) -> str:
        text = str(value)
        if not (text.startswith("https://") or text.startswith("app://")):
            raise ValueError(f"must start with https:// or app://, got {text!r}")
        return text

    @model_validator(mode="after")
    def _check_dates(self) -> "OfferSpec":
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValueError(
                f"valid_until {self.valid_until} is before valid_from {self.valid_from}; swap or fix the dates"
            )
        return self

    def is_valid_at(self, when: datetime) -> bool:
        """Return whether ``when`` falls inside the offer's validity dates (inclusive)."""
        day = when.date()
        if self.valid_from is not None and day < self.valid_from:
            return False
        if self.valid_until is not None and day > self.valid_until:
            return False
        return True


class OfferCatalog(BaseModel):
    """The full list of offers, with unique ids."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = Field(default=1, ge=1)
    offers: tuple[OfferSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_unique(self) -> "OfferCatalog":
        seen: set[str] = set()
        for offer in self.offers:
            if offer.id in seen:
                raise ValueError(f"offer id {offer.id!r} appears more than once; offer ids must be unique")
            seen.add(offer.id)
        return self

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(offer.id for offer in self.offers)

    def get(self, offer_id: str) -> OfferSpec:
        """Return the offer with this id, or raise UnknownOfferError with close matches."""
        for offer in self.offers:
            if offer.id == offer_id:
                return offer
        close = difflib.get_close_matches(offer_id, self.ids, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownOfferError(f"offer {offer_id!r} is not in the catalog.{hint}")
