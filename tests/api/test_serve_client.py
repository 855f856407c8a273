"""The ingress's client for the policy deployment: argument passing and error unwrapping."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from api.serve_app import _HandleClient
from engine.errors import InvalidInputError


class FakeMethod:
    """Stands in for ``handle.method``: ``remote`` records the call and returns an awaitable result."""

    def __init__(self, result: Any, calls: list[tuple[Any, ...]]) -> None:
        self.result = result
        self.calls = calls

    def remote(self, *args: Any) -> Any:
        self.calls.append(args)

        async def reply() -> Any:
            return self.result

        return reply()


class FakeHandle:
    def __init__(self, results: dict[str, Any]) -> None:
        self.calls: list[tuple[Any, ...]] = []
        for name, result in results.items():
            setattr(self, name, FakeMethod(result, self.calls))


def test_handle_client_forwards_privacy_calls() -> None:
    handle = FakeHandle(
        {
            "set_consent": {"marketing": False, "personalisation": True, "updated_at": 1.0, "erased": False},
            "erase_customer": {"customer_id": "p", "decisions_deleted": 2},
            "decision": {"__value__": None},
        }
    )
    client = _HandleClient(handle, None)  # type: ignore[arg-type]

    consent = asyncio.run(client.set_consent("u-1", False, None))
    erased = asyncio.run(client.erase_customer("u-1"))
    audit = asyncio.run(client.decision("d-1"))

    assert consent["marketing"] is False
    assert erased["decisions_deleted"] == 2
    assert audit is None
    assert handle.calls == [("u-1", False, None), ("u-1",), ("d-1",)]


def test_handle_client_raises_replica_errors_as_invalid_input() -> None:
    client = _HandleClient(FakeHandle({"erase_customer": {"__error__": "userId must be a non-empty string"}}), None)  # type: ignore[arg-type]

    with pytest.raises(InvalidInputError, match="userId must be a non-empty string"):
        asyncio.run(client.erase_customer(""))
