"""SyntheticBank: the simulated bank that the simulation loop and the benchmarks drive.

The bank owns a seeded population (:mod:`envs.population`), one lazy event stream per
customer (:mod:`envs.transactions`), the merged stream of app opens
(:mod:`envs.arrivals`) and the true response model (:mod:`envs.response`). A loop requests
the next arrival, feeds the customer's new events to its profiles, decides a slate,
and hands the slate to :meth:`SyntheticBank.respond` for feedback events.

Randomness is split so that no draw depends on call order across customers: the
population, each customer's login times and each customer's transactions use their own
generators spawned from ``seed``. Responses use a generator derived from
``(seed, customer_id, ts, offer_id)``: every policy that shows an offer at the same
arrival gets the same uniform draw for it (common random numbers), whatever decision id
it generated, which makes policy comparisons far less noisy.

The simulated customers do not react to what they accepted beyond the response model
(accepting a savings goal does not start transfers), so their event streams are the same
under every policy.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

import numpy as np

from engine.config.offers import OfferCatalog
from engine.config.rewards import RewardConfig
from engine.errors import InvalidInputError
from engine.events import OfferFeedbackEvent
from envs.arrivals import Arrival, ArrivalProcess, LoginSchedule
from envs.population import CustomerTraits, Population, sample_population
from engine.rewards import combine_feedback
from envs.response import FATIGUE_WINDOW_DAYS, OUTCOME_FEEDBACK, ResponseModel, draw_outcome
from envs.transactions import CustomerStream

__all__ = ["DEFAULT_START", "Arrival", "SyntheticBank"]

logger = logging.getLogger(__name__)

DEFAULT_START = datetime(2025, 1, 1, tzinfo=timezone.utc)
# Spawn keys of the generators derived from the seed.
_POPULATION_STREAM, _LOGIN_STREAM, _TRANSACTION_STREAM = 0, 1, 2
# Delays of feedback after the decision, in seconds: (low, high) of a uniform draw.
_IMPRESSION_DELAY = (0.5, 3.0)
_CLICK_DELAY = (3.0, 90.0)
_ACCEPT_DELAY = (20.0, 600.0)
_REJECT_DELAY = (2.0, 60.0)
# A delay never exceeds this share of its feedback type's attribution window.
_MAX_WINDOW_SHARE = 0.5


def _require_aware(name: str, ts: datetime) -> float:
    if not isinstance(ts, datetime) or ts.tzinfo is None or ts.utcoffset() is None:
        raise InvalidInputError(
            f"{name} must be a timezone-aware datetime; got {ts!r}. Pass e.g. datetime(..., tzinfo=timezone.utc)"
        )
    return ts.timestamp()


def _hash_int(*parts: object) -> int:
    text = "|".join(str(part) for part in parts)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=16).digest(), "big")


class SyntheticBank:
    """A seeded population of customers with event streams, app opens and true offer responses.

    Args:
        catalog: the offers customers may be shown.
        reward_config: how feedback becomes reward; :meth:`expected_reward` and the
            feedback timing follow it.
        n_customers: population size, at least 1.
        seed: non-negative seed; the same seed and the same sequence of calls give the
            same arrivals, events and responses.
        start: aware time of the first arrival window; arrivals are at or after it.
        warmup_days: days of history before ``start`` that the first
            :meth:`events_until` call of each customer returns.
        engagement_scale: factor on every customer's app-open rate (default segments
            open the app about once a day). Lower values model a bank that shows the
            offers section on a share of opens only.
        accept_scale: factor on every acceptance probability (see ResponseModel).

    Raises:
        InvalidInputError: an argument is out of range or a time has no time zone.
    """

    def __init__(
        self,
        catalog: OfferCatalog,
        reward_config: RewardConfig,
        *,
        n_customers: int = 2000,
        seed: int = 0,
        start: datetime = DEFAULT_START,
        warmup_days: int = 60,
        engagement_scale: float = 1.0,
        accept_scale: float = 1.0,
    ) -> None:
        if not isinstance(catalog, OfferCatalog):
            raise InvalidInputError(
                f"catalog must be an OfferCatalog; got {type(catalog).__name__}. Load one with engine.config.load_catalog"
            )
        if not isinstance(reward_config, RewardConfig):
            raise InvalidInputError(
                f"reward_config must be a RewardConfig; got {type(reward_config).__name__}. "
                "Load one with engine.config.load_reward_config"
            )
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise InvalidInputError(f"seed must be a non-negative int; got {seed!r}")
        if not isinstance(warmup_days, int) or warmup_days < 0:
            raise InvalidInputError(f"warmup_days must be an int >= 0; got {warmup_days!r}")
        if not 0.01 <= engagement_scale <= 10.0:
            raise InvalidInputError(f"engagement_scale must be in [0.01, 10]; got {engagement_scale!r}")
        start_stamp = _require_aware("start", start)

        self.catalog = catalog
        self.reward_config = reward_config
        self.seed = int(seed)
        self.start = start
        self.warmup_days = warmup_days
        self.origin = start - timedelta(days=warmup_days)

        population_rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(_POPULATION_STREAM,)))
        self.population: Population = sample_population(n_customers, population_rng)
        self.customer_ids: list[str] = self.population.customer_ids
        self._index = {customer_id: index for index, customer_id in enumerate(self.customer_ids)}
        self.response_model = ResponseModel(catalog, reward_config, accept_scale=accept_scale)

        self._schedules = [
            LoginSchedule(
                customer, self._generator(_LOGIN_STREAM, customer.index), self.origin.timestamp(), engagement_scale
            )
            for customer in self.population.customers
        ]
        self._arrivals = ArrivalProcess(self.customer_ids, self._schedules, start_stamp)
        self._streams: dict[int, CustomerStream] = {}
        self._cutoffs: dict[int, float] = {}
        # (customer index, offer index) -> impression times, and the pairs that were accepted.
        self._impressions: dict[tuple[int, int], list[float]] = {}
        self._owned: set[tuple[int, int]] = set()
        logger.debug("bank_created", extra={"n_customers": n_customers, "seed": self.seed})

    def __repr__(self) -> str:
        return (
            f"SyntheticBank(n_customers={len(self.customer_ids)}, seed={self.seed}, "
            f"offers={len(self.catalog.offers)}, start={self.start.isoformat()}, arrivals={self._arrivals.count})"
        )

    # ------------------------------------------------------------- customers
    def _generator(self, stream: int, index: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(stream, index)))

    def _customer_index(self, customer_id: str) -> int:
        index = self._index.get(customer_id)
        if index is None:
            close = difflib.get_close_matches(str(customer_id), self.customer_ids, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise InvalidInputError(
                f"customer {customer_id!r} is not in this bank's population of {len(self.customer_ids)} "
                f"(ids cust-00000 to {self.customer_ids[-1]}).{hint}"
            )
        return index

    def customer(self, customer_id: str) -> CustomerTraits:
        """Return the latent traits of one customer (ground truth, for tests and analysis)."""
        return self.population.customers[self._customer_index(customer_id)]

    def latent(self, customer_id: str) -> np.ndarray:
        """Return the standardised latent traits of one customer, shape (len(TRAIT_NAMES),)."""
        return self.population.latent[self._customer_index(customer_id)]

    # --------------------------------------------------------------- arrivals
    def next_arrival(self) -> Arrival:
        """Return the next app open across the population; times never decrease."""
        return self._arrivals.next_arrival()

    def events_until(self, customer_id: str, ts: datetime) -> list:
        """Return the customer's events after the previous call's ``ts`` and at or before ``ts``, in time order.

        The first call for a customer starts at ``start - warmup_days``, so it returns the
        warm-up history as well.

        Raises:
            InvalidInputError: unknown customer, naive ``ts``, or ``ts`` earlier than the
                previous call's for this customer.
        """
        index = self._customer_index(customer_id)
        stamp = _require_aware("ts", ts)
        previous = self._cutoffs.get(index)
        if previous is not None and stamp < previous:
            raise InvalidInputError(
                f"events_until for {customer_id} asked for ts {ts.isoformat()}, before the previous call's "
                f"{datetime.fromtimestamp(previous, timezone.utc).isoformat()}; time only moves forward"
            )
        self._cutoffs[index] = stamp
        stream = self._streams.get(index)
        if stream is None:
            customer = self.population.customers[index]
            stream = CustomerStream(
                customer,
                self._schedules[index],
                self._generator(_TRANSACTION_STREAM, index),
                origin=self.origin,
                event_prefix=f"s{self.seed}-{customer_id}-",
            )
            self._streams[index] = stream
        return stream.events_until(stamp)

    # -------------------------------------------------------------- responses
    def _offer_indices(self, offer_ids: Sequence[str], name: str) -> list[int]:
        if isinstance(offer_ids, str):
            raise InvalidInputError(f"{name} must be a sequence of offer ids, not one string; got {offer_ids!r}")
        indices = []
        for offer_id in offer_ids:
            index = self.response_model.offer_index.get(offer_id)
            if index is None:
                self.catalog.get(offer_id)  # raises UnknownOfferError with close matches
            indices.append(index)
        if len(set(indices)) != len(indices):
            raise InvalidInputError(f"{name} lists an offer more than once: {list(offer_ids)}; offer ids must be unique")
        return indices

    def _fatigue_state(self, customer: int, stamp: float | None) -> tuple[np.ndarray, np.ndarray]:
        n_offers = len(self.response_model.offer_ids)
        recent = np.zeros(n_offers)
        owned = np.zeros(n_offers, dtype=bool)
        if stamp is None:
            return recent, owned
        window_start = stamp - FATIGUE_WINDOW_DAYS * 86400.0
        for offer in range(n_offers):
            seen = self._impressions.get((customer, offer))
            if seen:
                recent[offer] = sum(1 for at in seen if window_start <= at < stamp)
            owned[offer] = (customer, offer) in self._owned
        return recent, owned

    def _expected_rewards(self, customer: int, position: int, stamp: float | None) -> np.ndarray:
        recent, owned = self._fatigue_state(customer, stamp)
        return self.response_model.expected_rewards(self.population.latent[customer], position, recent, owned)

    def expected_reward(
        self, customer_id: str, offer_id: str, position: int = 1, ts: datetime | None = None
    ) -> float:
        """Return the true expected reward of showing one offer at ``position``.

        With ``ts``, fatigue from impressions in the previous 7 days and earlier accepts
        (recorded by :meth:`respond`) apply; without it, the customer's fresh response.
        """
        customer = self._customer_index(customer_id)
        (offer,) = self._offer_indices([offer_id], "offer_id")
        stamp = _require_aware("ts", ts) if ts is not None else None
        return float(self._expected_rewards(customer, position, stamp)[offer])

    def expected_slate_reward(self, customer_id: str, slate: Sequence[str], ts: datetime | None = None) -> float:
        """Return the true expected reward of a whole slate (sum over positions 1, 2, ...)."""
        customer = self._customer_index(customer_id)
        offers = self._offer_indices(slate, "slate")
        stamp = _require_aware("ts", ts) if ts is not None else None
        recent, owned = self._fatigue_state(customer, stamp)
        z = self.population.latent[customer]
        total = 0.0
        for position, offer in enumerate(offers, start=1):
            total += float(self.response_model.expected_rewards(z, position, recent, owned)[offer])
        return total

    def oracle_slate(
        self, customer_id: str, eligible_offer_ids: Sequence[str], k: int, ts: datetime | None
    ) -> list[str]:
        """Return the ``k`` eligible offers with the highest expected reward, best first.

        Offers are ranked by their expected reward at position 1; ties keep catalog
        order. Fewer than ``k`` eligible offers give a shorter slate.
        """
        if not isinstance(k, int) or k < 1:
            raise InvalidInputError(f"k must be an int >= 1 (the slate size); got {k!r}")
        customer = self._customer_index(customer_id)
        offers = self._offer_indices(eligible_offer_ids, "eligible_offer_ids")
        stamp = _require_aware("ts", ts) if ts is not None else None
        rewards = self._expected_rewards(customer, 1, stamp)
        ranked = sorted(offers, key=lambda offer: (-rewards[offer], offer))
        return [self.response_model.offer_ids[offer] for offer in ranked[:k]]

    def respond(
        self, customer_id: str, decision_id: str, slate: Sequence[str], ts: datetime
    ) -> list[OfferFeedbackEvent]:
        """Draw the customer's feedback to a shown slate (position = index + 1).

        Every shown offer gets an impression; then an accept (after a click), a click
        alone, a reject, a dismiss or nothing more. Events fall shortly after ``ts``,
        each well inside its type's attribution window, and come back in time order.
        Impressions and accepts are recorded for fatigue. Event ids are hashed from
        ``(decision_id, offer_id, feedback)``, so reusing a decision id repeats them.

        Raises:
            InvalidInputError: unknown customer, empty ``decision_id``, naive ``ts``, or
                an offer repeated in the slate.
            UnknownOfferError: an offer id is not in the catalog.
        """
        customer = self._customer_index(customer_id)
        if not isinstance(decision_id, str) or not decision_id:
            raise InvalidInputError(f"decision_id must be a non-empty string; got {decision_id!r}")
        offers = self._offer_indices(slate, "slate")
        stamp = _require_aware("ts", ts)
        recent, owned = self._fatigue_state(customer, stamp)
        positions = np.ones(len(self.response_model.offer_ids), dtype=int)
        for position, offer in enumerate(offers, start=1):
            positions[offer] = position
        probabilities = self.response_model.outcome_probabilities(
            self.population.latent[customer], positions, recent, owned
        )
        windows = {name: window.total_seconds() for name, window in self.reward_config.attribution_window.items()}
        events: list[OfferFeedbackEvent] = []
        for offer in offers:
            offer_id = self.response_model.offer_ids[offer]
            rng = np.random.default_rng(
                np.random.SeedSequence([self.seed, _hash_int(customer_id, repr(stamp), offer_id)])
            )
            outcome = draw_outcome(probabilities[offer], float(rng.random()))
            delays = self._feedback_delays(outcome, rng, windows)
            for feedback, delay in zip(OUTCOME_FEEDBACK[outcome], delays):
                events.append(
                    OfferFeedbackEvent(
                        event_id=f"fb-{_hash_int(decision_id, offer_id, feedback):032x}",
                        customer_id=customer_id,
                        ts=datetime.fromtimestamp(stamp + delay, timezone.utc),
                        decision_id=decision_id,
                        offer_id=offer_id,
                        feedback=feedback,
                    )
                )
            self._impressions.setdefault((customer, offer), []).append(stamp + delays[0])
            if outcome == "accept":
                self._owned.add((customer, offer))
        events.sort(key=lambda event: event.ts)
        return events

    def _feedback_delays(self, outcome: str, rng: np.random.Generator, windows: dict[str, float]) -> list[float]:
        """Return seconds after the decision for each feedback event of ``outcome``, in order."""
        impression = float(rng.uniform(*_IMPRESSION_DELAY))
        delays = [impression]
        if outcome in ("accept", "click"):
            delays.append(impression + float(rng.uniform(*_CLICK_DELAY)))
        if outcome == "accept":
            delays.append(delays[-1] + float(rng.uniform(*_ACCEPT_DELAY)))
        if outcome in ("reject", "dismiss"):
            delays.append(impression + float(rng.uniform(*_REJECT_DELAY)))
        names = OUTCOME_FEEDBACK[outcome]
        # NOTE: with attribution windows shorter than the delays above, clamping can put a
        # click after its accept; the shipped windows (1h and more) never clamp.
        return [min(delay, _MAX_WINDOW_SHARE * windows[name]) for name, delay in zip(names, delays)]

    def feedback_reward(self, feedback: Sequence[OfferFeedbackEvent]) -> dict[str, float]:
        """Return the realised reward of each offer in one decision's feedback, by offer id.

        Combines each offer's feedback types in time order with
        :func:`engine.rewards.combine_feedback` and weights by business value when
        ``business_value_weighting`` is on, as the engine's reward joiner does for
        in-window events.
        """
        types: dict[str, list[str]] = {}
        for event in sorted(feedback, key=lambda event: event.ts):
            types.setdefault(event.offer_id, []).append(event.feedback)
        rewards = {}
        for offer_id, names in types.items():
            value = combine_feedback(names, self.reward_config)
            if self.reward_config.business_value_weighting:
                value *= self.catalog.get(offer_id).business_value
            rewards[offer_id] = value
        return rewards
