"""HTTP handling of GraphQL requests with a cache of parsed and validated documents.

Parsing and validating a dashboard query costs about ten times more than executing it,
so each distinct query string is parsed and validated once and the document reused. The
cache is bounded (least recently used entries are dropped).
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from inspect import isawaitable
from typing import Any

from graphql import DocumentNode, GraphQLError, GraphQLSchema, execute, parse, validate

from engine.errors import InvalidInputError

__all__ = ["DocumentCache", "execute_graphql"]

logger = logging.getLogger(__name__)

MAX_QUERY_LENGTH = 20_000


class DocumentCache:
    """LRU cache of validated documents keyed by query text."""

    def __init__(self, schema: GraphQLSchema, max_entries: int = 256) -> None:
        self.schema = schema
        self.max_entries = max_entries
        self._documents: OrderedDict[str, DocumentNode] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, query: str) -> tuple[DocumentNode | None, list[GraphQLError]]:
        """Return the validated document, or None with the parse or validation errors."""
        document = self._documents.get(query)
        if document is not None:
            self._documents.move_to_end(query)
            self.hits += 1
            return document, []
        self.misses += 1
        try:
            document = parse(query)
        except GraphQLError as err:
            return None, [err]
        errors = validate(self.schema, document)
        if errors:
            return None, list(errors)
        self._documents[query] = document
        if len(self._documents) > self.max_entries:
            self._documents.popitem(last=False)
        return document, []


def _format_error(error: GraphQLError) -> dict[str, Any]:
    original = error.original_error
    if original is None or isinstance(original, (InvalidInputError, GraphQLError)):
        formatted = error.formatted
        if original is not None:
            formatted["message"] = str(original)
            formatted.setdefault("extensions", {})["code"] = "BAD_USER_INPUT"
        return formatted
    reference = uuid.uuid4().hex[:12]
    logger.error("graphql resolver failed (reference %s): %r", reference, original, exc_info=original)
    return {
        "message": f"internal error; quote reference {reference} when reporting it",
        "path": error.path,
        "extensions": {"code": "INTERNAL_SERVER_ERROR", "reference": reference},
    }


async def execute_graphql(cache: DocumentCache, body: Any, context: dict[str, Any]) -> dict[str, Any]:
    """Execute one GraphQL request body ({query, variables, operationName}) and return the response dict."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return {"errors": [{"message": "request body must be a JSON object with a 'query' string"}]}
    query = body["query"]
    if len(query) > MAX_QUERY_LENGTH:
        return {"errors": [{"message": f"query is {len(query)} characters; the maximum is {MAX_QUERY_LENGTH}"}]}
    variables = body.get("variables") or None
    if variables is not None and not isinstance(variables, dict):
        return {"errors": [{"message": "'variables' must be a JSON object"}]}
    document, errors = cache.get(query)
    if document is None:
        return {"errors": [error.formatted for error in errors]}
    result = execute(
        cache.schema,
        document,
        variable_values=variables,
        operation_name=body.get("operationName"),
        context_value=context,
    )
    if isawaitable(result):
        result = await result
    response: dict[str, Any] = {"data": result.data}
    if result.errors:
        response["errors"] = [_format_error(error) for error in result.errors]
    return response
