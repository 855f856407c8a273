"""offerloop's engine: events, live features, profile store, decisions, rewards and learning.

Glossary (the same words are used in code, configs, logs and docs):

customer_id
    The pseudonymised customer identifier (HMAC of the bank's id, see engine.privacy).
    Raw ids never enter the engine.
event
    A customer event (transaction, login, geo ping, balance snapshot) or offer feedback
    (impression, click, accept, reject, dismiss); see engine.events.
profile
    The live per-customer state updated event by event (engine.profile); features are
    read from it (engine.features).
context
    The encoded feature vector a policy sees for one decision, last entry the bias.
candidates
    The offers that passed eligibility rules and contact policy for one decision.
slate
    The ordered offers shown; position 1 first.
propensity
    The probability with which the policy placed an offer at its position, given the
    offers above it. ``action_dist`` is the probability of each candidate at position 1.
decision record
    Everything about one decision needed to join feedback, learn, audit and evaluate it
    off-policy (engine.events.DecisionRecord).
reward
    The number a policy maximises, made from feedback by the reward config
    (engine.rewards); one per shown offer.
snapshot
    An immutable copy of a policy's parameters at one version; decisions read
    snapshots, the learner publishes them (engine.snapshot_store).
"""
