"""Event model: what customers do, what offerloop decided, and how customers responded.

Every event carries an ``event_id`` (the idempotency key), a ``customer_id`` (already
pseudonymised when it reaches the engine) and a timezone-aware ``ts``. Money is a
``Decimal`` with an ISO 4217 currency code. Transaction amounts are signed from the
customer's point of view: negative for money leaving the account, positive for money
arriving.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar, Union

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from engine.errors import EventValidationError, InvalidInputError
from engine.privacy import coarsen_location

__all__ = [
    "construct_trusted",
    "FEEDBACK_TYPES",
    "CHANNELS",
    "FeedbackType",
    "Channel",
    "TransactionEvent",
    "LoginEvent",
    "GeoPingEvent",
    "BalanceSnapshotEvent",
    "OfferFeedbackEvent",
    "ConsentEvent",
    "CustomerEvent",
    "Event",
    "ShownOffer",
    "CandidateScore",
    "DecisionRecord",
    "parse_event",
    "parse_decision",
    "event_to_json",
    "new_id",
    "format_validation_error",
]

FeedbackType = Literal["impression", "click", "accept", "reject", "dismiss"]
FEEDBACK_TYPES: tuple[str, ...] = ("impression", "click", "accept", "reject", "dismiss")
Channel = Literal["web", "mobile", "wearable"]
CHANNELS: tuple[str, ...] = ("web", "mobile", "wearable")

CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. EUR")]
Identifier = Annotated[str, Field(min_length=1, max_length=200)]


def construct_trusted(model: type[_ModelT], values: dict[str, Any]) -> _ModelT:
    """Build a pydantic model from values the caller guarantees valid and complete, without validation.

    The result equals ``model.model_construct(**values)`` when ``values`` names every
    field, built in about a fifth of the time (1.2 against 5.8 us for a ShownOffer, timeit
    on a shared 2-core machine). The decision path builds four models per request. A
    missing field is not filled with its default, so pass all of them.
    """
    instance = model.__new__(model)
    _set_attribute(instance, "__dict__", values)
    _set_attribute(instance, "__pydantic_fields_set__", set(values))
    _set_attribute(instance, "__pydantic_extra__", None)
    private = _PRIVATE_DEFAULTS.get(model)
    if private is None:
        private = {name: attribute.get_default() for name, attribute in model.__private_attributes__.items()}
        _PRIVATE_DEFAULTS[model] = private
    _set_attribute(instance, "__pydantic_private__", dict(private) if private else None)
    return instance


_ModelT = TypeVar("_ModelT", bound=BaseModel)
_PRIVATE_DEFAULTS: dict[type[BaseModel], dict[str, Any]] = {}
_set_attribute = object.__setattr__


def new_id() -> str:
    """Return a random identifier for events and decisions: 32 hex digits, 128 random bits.

    Same length and alphabet as ``uuid.uuid4().hex`` (without its version bits), and about
    four times cheaper to make.
    """
    return os.urandom(16).hex()


class _EventBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: Identifier
    customer_id: Identifier
    ts: AwareDatetime


class TransactionEvent(_EventBase):
    """A booked card payment, transfer, direct debit or credit on one of the customer's accounts."""

    type: Literal["transaction"] = "transaction"
    amount: Decimal = Field(description="Signed: negative leaves the account, positive arrives.")
    currency: CurrencyCode
    description: str = Field(default="", max_length=500)
    merchant: str | None = Field(default=None, max_length=200)
    category: str | None = Field(default=None, max_length=50, description="Known category, if the source has one.")
    mcc: str | None = Field(default=None, pattern=r"^\d{4}$")
    account_id: str | None = Field(default=None, max_length=200)
    balance_after: Decimal | None = None


class LoginEvent(_EventBase):
    """The customer opened the app or web banking."""

    type: Literal["login"] = "login"
    channel: Channel = "mobile"


class GeoPingEvent(_EventBase):
    """A location reported by the app, coarsened to a 0.1 degree grid when the event is built.

    Producers coarsen at the edge (engine.privacy.sanitize_event_payload). Validation
    coarsens again, which changes nothing for coarsened input and keeps precise
    coordinates out of every event object that reaches the engine.
    """

    type: Literal["geo_ping"] = "geo_ping"
    lat: float = Field(ge=-90.0, le=90.0)
    lon: float = Field(ge=-180.0, le=180.0)
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")

    @model_validator(mode="before")
    @classmethod
    def _coarsen(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("lat"), (int, float)) and isinstance(data.get("lon"), (int, float)):
            try:
                lat, lon = coarsen_location(data["lat"], data["lon"])
            except InvalidInputError:
                return data  # the field constraints reject the out-of-range value with its name
            return {**data, "lat": lat, "lon": lon}
        return data


class BalanceSnapshotEvent(_EventBase):
    """The booked balance of one account at ``ts``."""

    type: Literal["balance_snapshot"] = "balance_snapshot"
    balance: Decimal
    currency: CurrencyCode
    account_id: str | None = Field(default=None, max_length=200)
    credit_limit: Decimal | None = Field(default=None, ge=0)


class OfferFeedbackEvent(_EventBase):
    """Customer response to one offer of one decision."""

    type: Literal["offer_feedback"] = "offer_feedback"
    decision_id: Identifier
    offer_id: Identifier
    feedback: FeedbackType


class ConsentEvent(_EventBase):
    """The customer gave or withdrew consent; a field left None keeps its current value.

    ``marketing``: offers of products the customer does not hold may be shown.
    ``personalisation``: the customer's profile may be used to rank offers and word reasons.
    """

    type: Literal["consent"] = "consent"
    # Strict: consent must be an explicit true or false, never a coerced "yes" or 1.
    marketing: StrictBool | None = None
    personalisation: StrictBool | None = None


CustomerEvent = Union[TransactionEvent, LoginEvent, GeoPingEvent, BalanceSnapshotEvent]
Event = Annotated[
    Union[TransactionEvent, LoginEvent, GeoPingEvent, BalanceSnapshotEvent, OfferFeedbackEvent, ConsentEvent],
    Field(discriminator="type"),
]


@dataclass(slots=True)
class CandidateScore:
    """One eligible offer that the policy scored for a decision.

    A plain dataclass rather than a pydantic model, because a decision builds one per
    candidate on the request path; pydantic still validates it inside DecisionRecord.
    Treat it as read-only. It is not frozen because a frozen dataclass costs about four
    times as much to build: 7 us more per decision of 20 candidates.

    Attributes:
        offer_id: the candidate offer.
        score: expected reward predicted by the policy.
        value: arbitration value, the score times business value and levers.
        probability: probability of being placed first.
    """

    offer_id: str
    score: float
    value: float
    probability: Annotated[float, Field(ge=0.0, le=1.0)]


class ShownOffer(BaseModel):
    """An offer that was placed in the slate."""

    model_config = ConfigDict(frozen=True)

    offer_id: str
    position: int = Field(ge=1)
    propensity: float = Field(
        ge=0.0, le=1.0, description="Probability of this offer at this position, given the offers above it."
    )
    score: float
    reason: str
    reason_features: tuple[str, ...] = ()
    contributions: dict[str, float] = Field(
        default_factory=dict,
        description="Feature name to its contribution to this offer's score relative to the reference customer; "
        "the weights the reason was chosen from. Empty when the policy has no such decomposition.",
    )


class DecisionRecord(BaseModel):
    """Everything needed to join feedback, learn, audit and evaluate one decision off-policy."""

    model_config = ConfigDict(frozen=True)

    type: Literal["decision"] = "decision"
    decision_id: str
    customer_id: str
    ts: AwareDatetime
    channel: Channel = "mobile"
    policy_id: str
    policy_version: int = Field(ge=0)
    context: dict[str, float] = Field(description="Feature values the policy saw, by feature name.")
    candidates: tuple[CandidateScore, ...]
    shown: tuple[ShownOffer, ...]
    slate_propensity: float = Field(ge=0.0, le=1.0, description="Probability of the whole ordered slate.")
    ineligible: dict[str, str] = Field(default_factory=dict, description="Offer id to the rule that excluded it.")
    eligible: tuple[str, ...] = Field(default=(), description="Offers that passed eligibility and contact policy.")
    algorithm: str = Field(default="", description="Algorithm of the policy snapshot that ranked the slate.")
    personalised: bool = Field(
        default=True, description="False when the customer withheld personalisation consent: no features were used to rank."
    )
    marketing: bool = Field(
        default=True, description="False when the customer withheld marketing consent: only service offers were candidates."
    )
    _json: bytes | None = PrivateAttr(default=None)

    def json_bytes(self) -> bytes:
        """Return the record as compact JSON bytes, serialised once per record.

        The record is frozen, so the pending-decision store, the audit store and the
        decisions topic can share one serialisation.
        """
        if self._json is None:
            self._json = self.model_dump_json().encode()
        return self._json

    def __eq__(self, other: object) -> bool:
        # Field values only: whether the JSON cache is filled does not make records differ.
        if not isinstance(other, DecisionRecord):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = BaseModel.__hash__

    def shown_offer(self, offer_id: str) -> ShownOffer | None:
        """Return the shown offer with this id, or None when it was not in the slate."""
        for offer in self.shown:
            if offer.offer_id == offer_id:
                return offer
        return None


_EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(Event)


def format_validation_error(error: ValidationError, *, limit: int = 5) -> str:
    """Render a pydantic error as '<field>: <problem> (got <value>)' lines."""
    parts = []
    for item in error.errors()[:limit]:
        location = ".".join(str(part) for part in item["loc"]) or "<root>"
        value = item.get("input")
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        parts.append(f"{location}: {item['msg']} (got {shown})")
    more = len(error.errors()) - limit
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)


def parse_event(payload: bytes | str | dict[str, Any]) -> Any:
    """Validate a JSON payload or dict and return the matching event model.

    Raises:
        EventValidationError: the payload is not JSON, has no known ``type``, or a field
            is missing or invalid. The message names each field and the value received.
    """
    if isinstance(payload, (bytes, str)):
        try:
            payload = json.loads(payload)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise EventValidationError(f"event is not valid JSON: {err}") from err
    if not isinstance(payload, dict):
        raise EventValidationError(f"event must be a JSON object; got {type(payload).__name__}")
    try:
        return _EVENT_ADAPTER.validate_python(payload)
    except ValidationError as err:
        kinds = "transaction, login, geo_ping, balance_snapshot, offer_feedback, consent"
        raise EventValidationError(
            f"invalid {payload.get('type', 'untyped')!s} event: {format_validation_error(err)}. "
            f"Allowed types: {kinds}."
        ) from err


def parse_decision(payload: bytes | str | dict[str, Any]) -> DecisionRecord:
    """Validate a decision record from JSON or a dict."""
    try:
        if isinstance(payload, (bytes, str)):
            return DecisionRecord.model_validate_json(payload)
        return DecisionRecord.model_validate(payload)
    except ValidationError as err:
        raise EventValidationError(f"invalid decision record: {format_validation_error(err)}") from err


def event_to_json(event: BaseModel) -> bytes:
    """Serialise an event or decision record to compact JSON bytes (Decimals become strings)."""
    if isinstance(event, DecisionRecord):
        return event.json_bytes()
    return event.model_dump_json().encode()


def ensure_aware(ts: datetime) -> datetime:
    """Return ``ts`` unchanged, or raise when it carries no time zone."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise EventValidationError(f"timestamp {ts.isoformat()} has no time zone; pass an aware datetime")
    return ts
