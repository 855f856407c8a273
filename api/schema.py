"""GraphQL schema of the dashboard API (Graphene).

Resolvers call the service client found in ``info.context["service"]`` after checking
that the caller in ``info.context["principal"]`` (an :class:`api.auth.Principal`) has the
operation's scope. They keep no state, so the same schema serves in-process tests and
the Ray Serve ingress.

Scopes: ``personalizedDashboard`` needs ``dashboard:read``; ``recordFeedback`` needs
``feedback:write``; ``decision``, ``setConsent`` and ``eraseCustomer`` need ``admin``.
"""

from __future__ import annotations

from typing import Any

import graphene

from api.auth import MISSING_KEY_MESSAGE, AuthenticationError, Principal

__all__ = ["schema", "Channel", "FeedbackType"]


class Channel(graphene.Enum):
    """Where the dashboard is shown; decides how many offers come back."""

    web = "web"
    mobile = "mobile"
    wearable = "wearable"


class FeedbackType(graphene.Enum):
    """Customer action on an offer."""

    impression = "impression"
    click = "click"
    accept = "accept"
    reject = "reject"
    dismiss = "dismiss"


class Offer(graphene.ObjectType):
    """An offer chosen for the customer, with the reason it was chosen."""

    id = graphene.ID(required=True)
    title = graphene.String(required=True)
    action_url = graphene.String(required=True, name="actionUrl")
    category = graphene.String(required=True)
    score = graphene.Float(required=True, description="Predicted reward for this customer.")
    position = graphene.Int(required=True)
    reason = graphene.String(required=True)
    decision_id = graphene.ID(required=True, name="decisionId")


class Insight(graphene.ObjectType):
    """A prediction about the customer's money, with its reason."""

    category = graphene.String(required=True)
    prediction = graphene.String(required=True)
    confidence = graphene.Float(required=True)
    reason = graphene.String(required=True)


class Dashboard(graphene.ObjectType):
    """Offers and insights the app shows a customer now."""

    decision_id = graphene.ID(required=True, name="decisionId")
    policy_id = graphene.String(required=True, name="policyId")
    policy_version = graphene.Int(required=True, name="policyVersion")
    cold_start = graphene.Boolean(required=True, name="coldStart")
    personalised = graphene.Boolean(required=True, description="False when personalisation consent is withheld.")
    marketing = graphene.Boolean(required=True, description="False when marketing consent is withheld: service offers only.")
    offers = graphene.List(graphene.NonNull(Offer), required=True)
    insights = graphene.List(graphene.NonNull(Insight), required=True)


class FeedbackReceipt(graphene.ObjectType):
    """Acknowledgement that feedback was queued for the learner."""

    accepted = graphene.Boolean(required=True)
    event_id = graphene.ID(required=True, name="eventId")
    received_at = graphene.String(required=True, name="receivedAt")


class FeatureValue(graphene.ObjectType):
    """One feature the policy saw, in its natural unit (money, days, count or ratio)."""

    name = graphene.String(required=True)
    value = graphene.Float(required=True)


class FeatureWeight(graphene.ObjectType):
    """How much one feature raised (positive) or lowered an offer's score against the reference customer."""

    feature = graphene.String(required=True)
    weight = graphene.Float(required=True)


class AuditedOffer(graphene.ObjectType):
    """A shown offer with the numbers its reason was chosen from."""

    offer_id = graphene.ID(required=True, name="offerId")
    position = graphene.Int(required=True)
    propensity = graphene.Float(required=True, description="Probability of this offer at this position.")
    score = graphene.Float(required=True)
    reason = graphene.String(required=True)
    reason_features = graphene.List(graphene.NonNull(graphene.String), required=True, name="reasonFeatures")
    contributions = graphene.List(graphene.NonNull(FeatureWeight), required=True)


class IneligibleOffer(graphene.ObjectType):
    """An offer that was not a candidate, with the rule or contact policy that excluded it."""

    offer_id = graphene.ID(required=True, name="offerId")
    rule = graphene.String(required=True)


class DecisionAudit(graphene.ObjectType):
    """Why one decision showed what it showed: features, weights, eligibility and policy version."""

    decision_id = graphene.ID(required=True, name="decisionId")
    customer_id = graphene.ID(required=True, name="customerId", description="Pseudonymised customer id.")
    decided_at = graphene.String(required=True, name="decidedAt")
    channel = graphene.String(required=True)
    policy_id = graphene.String(required=True, name="policyId")
    policy_version = graphene.Int(required=True, name="policyVersion")
    algorithm = graphene.String(required=True)
    personalised = graphene.Boolean(required=True)
    marketing = graphene.Boolean(required=True)
    features = graphene.List(graphene.NonNull(FeatureValue), required=True)
    offers = graphene.List(graphene.NonNull(AuditedOffer), required=True)
    eligible = graphene.List(graphene.NonNull(graphene.ID), required=True)
    ineligible = graphene.List(graphene.NonNull(IneligibleOffer), required=True)


class Consent(graphene.ObjectType):
    """The consents that apply to one customer."""

    marketing = graphene.Boolean(required=True)
    personalisation = graphene.Boolean(required=True)
    updated_at = graphene.Float(name="updatedAt", description="Epoch seconds of the record; null when defaults apply.")
    erased = graphene.Boolean(required=True)


class ErasureReceipt(graphene.ObjectType):
    """Receipt of an erasure: what it removed."""

    customer_id = graphene.ID(required=True, name="customerId", description="Pseudonymised customer id.")
    profile_deleted = graphene.Boolean(required=True, name="profileDeleted")
    decisions_deleted = graphene.Int(required=True, name="decisionsDeleted")
    audit_records_deleted = graphene.Int(required=True, name="auditRecordsDeleted")
    consent_deleted = graphene.Boolean(required=True, name="consentDeleted")
    tombstone_topics = graphene.List(graphene.NonNull(graphene.String), required=True, name="tombstoneTopics")
    erased_at = graphene.Float(required=True, name="erasedAt")


def _enum_value(value: Any) -> str:
    return value.value if hasattr(value, "value") else str(value)


def _authorise(info: Any, scope: str, operation: str) -> Any:
    """Check the caller's scope and return the service client."""
    principal = info.context.get("principal")
    if not isinstance(principal, Principal):
        raise AuthenticationError(MISSING_KEY_MESSAGE)
    principal.require(scope, operation)
    return info.context["service"]


class Query(graphene.ObjectType):
    personalized_dashboard = graphene.Field(
        graphene.NonNull(Dashboard),
        name="personalizedDashboard",
        user_id=graphene.ID(required=True, name="userId"),
        channel=graphene.Argument(Channel, default_value="mobile"),
    )
    decision = graphene.Field(
        DecisionAudit,
        decision_id=graphene.ID(required=True, name="decisionId"),
        description="Audit record of one decision (admin); null when unknown or past retention.",
    )

    @staticmethod
    async def resolve_personalized_dashboard(root: Any, info: Any, user_id: str, channel: Any = "mobile") -> dict[str, Any]:
        service = _authorise(info, "dashboard:read", "personalizedDashboard")
        return await service.dashboard(user_id, _enum_value(channel))

    @staticmethod
    async def resolve_decision(root: Any, info: Any, decision_id: str) -> dict[str, Any] | None:
        service = _authorise(info, "admin", "decision")
        return await service.decision(decision_id)


class RecordFeedback(graphene.Mutation):
    """Record what the customer did with one offer of one decision."""

    class Arguments:
        decision_id = graphene.ID(required=True, name="decisionId")
        offer_id = graphene.ID(required=True, name="offerId")
        type = graphene.Argument(FeedbackType, required=True)

    Output = FeedbackReceipt

    @staticmethod
    async def mutate(root: Any, info: Any, decision_id: str, offer_id: str, type: Any) -> dict[str, Any]:
        service = _authorise(info, "feedback:write", "recordFeedback")
        return await service.record_feedback(decision_id, offer_id, _enum_value(type))


class SetConsent(graphene.Mutation):
    """Record a customer's marketing and/or personalisation consent (admin); an omitted field is unchanged."""

    class Arguments:
        user_id = graphene.ID(required=True, name="userId")
        marketing = graphene.Boolean()
        personalisation = graphene.Boolean()

    Output = Consent

    @staticmethod
    async def mutate(
        root: Any, info: Any, user_id: str, marketing: bool | None = None, personalisation: bool | None = None
    ) -> dict[str, Any]:
        service = _authorise(info, "admin", "setConsent")
        return await service.set_consent(user_id, marketing, personalisation)


class EraseCustomer(graphene.Mutation):
    """Erase everything offerloop keeps about a customer (admin); later events for them are dropped."""

    class Arguments:
        user_id = graphene.ID(required=True, name="userId")

    Output = ErasureReceipt

    @staticmethod
    async def mutate(root: Any, info: Any, user_id: str) -> dict[str, Any]:
        service = _authorise(info, "admin", "eraseCustomer")
        return await service.erase_customer(user_id)


class Mutation(graphene.ObjectType):
    record_feedback = RecordFeedback.Field(name="recordFeedback")
    set_consent = SetConsent.Field(name="setConsent")
    erase_customer = EraseCustomer.Field(name="eraseCustomer")


schema = graphene.Schema(query=Query, mutation=Mutation, auto_camelcase=False)
