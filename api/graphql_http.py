"""HTTP handling of GraphQL requests with a cache of parsed and validated documents.

Parsing and validating a dashboard query costs about ten times more than executing it,
so each distinct query string is parsed and validated once and the document reused. The
validation rules include the depth and cost limits (api/query_limits.py) and, when
introspection is off, graphql-core's ``NoSchemaIntrospectionCustomRule``, so their
verdict is cached with the document. Rejected queries are cached too, so a client that
repeats an over-deep query does not make the server validate it again. The cache is
bounded (least recently used entries are dropped).

Responses never contain a stack trace or an exception's internals: a resolver error that
is not an :class:`~engine.errors.InvalidInputError` becomes "internal error" with a
reference that the server log repeats next to the traceback.
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from inspect import isawaitable
from typing import Any

from graphql import DocumentNode, GraphQLError, GraphQLSchema, execute, parse, specified_rules, validate
from graphql.error import GraphQLSyntaxError
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule

from api.auth import AuthenticationError, PermissionDeniedError
from api.query_limits import cost_limit_rule, depth_limit_rule
from engine.errors import InvalidInputError

__all__ = ["DocumentCache", "execute_graphql", "error_body"]

logger = logging.getLogger(__name__)

MAX_QUERY_LENGTH = 20_000
DEFAULT_MAX_DEPTH = 8
DEFAULT_MAX_COST = 1000


class DocumentCache:
    """LRU cache of validation verdicts keyed by query text.

    Args:
        schema: the executable schema.
        max_entries: queries remembered.
        max_depth: deepest nesting allowed (see api/query_limits.py).
        max_cost: highest cost allowed.
        introspection: allow ``__schema`` and ``__type``; when False, validation errors
            also leave out "Did you mean" suggestions, which would reveal field names.
    """

    def __init__(
        self,
        schema: GraphQLSchema,
        max_entries: int = 256,
        *,
        max_depth: int = DEFAULT_MAX_DEPTH,
        max_cost: int = DEFAULT_MAX_COST,
        introspection: bool = True,
    ) -> None:
        self.schema = schema
        self.max_entries = max_entries
        self.introspection = introspection
        rules: list[type[ASTValidationRule]] = [*specified_rules, depth_limit_rule(max_depth), cost_limit_rule(max_cost)]
        if not introspection:
            rules.append(NoSchemaIntrospectionCustomRule)
        self.rules: Sequence[type[ASTValidationRule]] = tuple(rules)
        self._entries: OrderedDict[str, tuple[DocumentNode | None, list[GraphQLError]]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, query: str) -> tuple[DocumentNode | None, list[GraphQLError]]:
        """Return the validated document, or None with the parse or validation errors."""
        entry = self._entries.get(query)
        if entry is not None:
            self._entries.move_to_end(query)
            self.hits += 1
            return entry
        self.misses += 1
        try:
            document = parse(query)
        except GraphQLError as err:
            entry = (None, [err])
        else:
            errors = validate(self.schema, document, self.rules, hide_suggestions=not self.introspection)
            entry = (None, list(errors)) if errors else (document, [])
        self._entries[query] = entry
        if len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return entry


_CODES: tuple[tuple[type[Exception], str], ...] = (
    (AuthenticationError, "UNAUTHENTICATED"),
    (PermissionDeniedError, "FORBIDDEN"),
    (InvalidInputError, "BAD_USER_INPUT"),
)


def error_body(message: str, code: str) -> dict[str, Any]:
    """Return a GraphQL response body with one error, for failures before execution."""
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


def _format_error(error: GraphQLError) -> dict[str, Any]:
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return error.formatted
    for error_type, code in _CODES:
        if isinstance(original, error_type):
            formatted = error.formatted
            formatted["message"] = str(original)
            formatted.setdefault("extensions", {})["code"] = code
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
        return error_body("request body must be a JSON object with a 'query' string", "BAD_REQUEST")

    query = body["query"]
    if len(query) > MAX_QUERY_LENGTH:
        return error_body(f"query is {len(query)} characters; the maximum is {MAX_QUERY_LENGTH}", "BAD_REQUEST")
    variables = body.get("variables") or None
    if variables is not None and not isinstance(variables, dict):
        return error_body("'variables' must be a JSON object", "BAD_REQUEST")
    operation_name = body.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        return error_body("'operationName' must be a string", "BAD_REQUEST")

    document, errors = cache.get(query)
    if document is None:
        formatted = [error.formatted for error in errors]
        # A query that does not parse gets GRAPHQL_PARSE_FAILED, the code other GraphQL servers use.
        syntax = any(isinstance(error, GraphQLSyntaxError) for error in errors)
        code = "GRAPHQL_PARSE_FAILED" if syntax else "GRAPHQL_VALIDATION_FAILED"
        for item in formatted:
            item.setdefault("extensions", {})["code"] = code
        return {"errors": formatted}

    result = execute(
        cache.schema,
        document,
        variable_values=variables,
        operation_name=operation_name,
        context_value=context,
    )
    if isawaitable(result):
        result = await result
    response: dict[str, Any] = {"data": result.data}
    if result.errors:
        response["errors"] = [_format_error(error) for error in result.errors]
    return response
