"""GraphQL schema of the dashboard API (Graphene).

Resolvers call the service client found in ``info.context["service"]``; they hold no
state, so the same schema serves in-process tests and the Ray Serve ingress.
"""

from __future__ import annotations

from typing import Any

import graphene

__all__ = ["schema", "Channel", "FeedbackType"]


class Channel(graphene.Enum):
    """Where the dashboard is shown; decides how many offers come back."""

    web = "web"
    mobile = "mobile"
    wearable = "wearable"


class FeedbackType(graphene.Enum):
    """What the customer did with an offer."""

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
    """What the app shows a customer now."""

    decision_id = graphene.ID(required=True, name="decisionId")
    policy_id = graphene.String(required=True, name="policyId")
    policy_version = graphene.Int(required=True, name="policyVersion")
    cold_start = graphene.Boolean(required=True, name="coldStart")
    offers = graphene.List(graphene.NonNull(Offer), required=True)
    insights = graphene.List(graphene.NonNull(Insight), required=True)


class FeedbackReceipt(graphene.ObjectType):
    """Acknowledgement that feedback was queued for the learner."""

    accepted = graphene.Boolean(required=True)
    event_id = graphene.ID(required=True, name="eventId")
    received_at = graphene.String(required=True, name="receivedAt")


def _enum_value(value: Any) -> str:
    return value.value if hasattr(value, "value") else str(value)


class Query(graphene.ObjectType):
    personalized_dashboard = graphene.Field(
        graphene.NonNull(Dashboard),
        name="personalizedDashboard",
        user_id=graphene.ID(required=True, name="userId"),
        channel=graphene.Argument(Channel, default_value="mobile"),
    )

    @staticmethod
    async def resolve_personalized_dashboard(root: Any, info: Any, user_id: str, channel: Any = "mobile") -> dict[str, Any]:
        return await info.context["service"].dashboard(user_id, _enum_value(channel))


class RecordFeedback(graphene.Mutation):
    """Record what the customer did with one offer of one decision."""

    class Arguments:
        decision_id = graphene.ID(required=True, name="decisionId")
        offer_id = graphene.ID(required=True, name="offerId")
        type = graphene.Argument(FeedbackType, required=True)

    Output = FeedbackReceipt

    @staticmethod
    async def mutate(root: Any, info: Any, decision_id: str, offer_id: str, type: Any) -> dict[str, Any]:
        return await info.context["service"].record_feedback(decision_id, offer_id, _enum_value(type))


class Mutation(graphene.ObjectType):
    record_feedback = RecordFeedback.Field(name="recordFeedback")


schema = graphene.Schema(query=Query, mutation=Mutation, auto_camelcase=False)
