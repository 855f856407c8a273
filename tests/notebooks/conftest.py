"""Fixtures of the notebook tests: the session's local Ray instance, shared with the notebook's kernel."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ray_address(ray_session: None) -> str:
    """Address of the session's Ray instance, which a notebook kernel joins as a second driver."""
    import ray

    return ray.get_runtime_context().gcs_address
