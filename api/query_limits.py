"""GraphQL validation rules that bound query depth and cost.

Both rules run at validation, so api/graphql_http.py caches their verdict with the
validated document and a repeated query costs nothing more.

* Depth: the deepest chain of nested fields, fragments expanded. ``{ a { b { c } } }``
  has depth 3.
* Cost: every selected field costs 1, times :data:`LIST_FACTOR` for each list field
  above it, so ``{ dashboard { offers { id title } } }`` costs ``1 + 10 * (1 + 1 + 1)``
  = 31 (``offers`` itself is inside the list factor too). Introspection meta fields
  (``__typename``) cost nothing.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLNamedType,
    GraphQLObjectType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    is_list_type,
    is_non_null_type,
)
from graphql.validation import ValidationContext, ValidationRule

__all__ = ["LIST_FACTOR", "depth_limit_rule", "cost_limit_rule", "query_depth", "query_cost"]

# Estimated items per list field. The dashboard's lists hold at most 20 offers and a few
# insights, so 10 is a fair mean.
LIST_FACTOR = 10


def _fragment_selections(context: ValidationContext, node: Any, seen: frozenset[str]) -> tuple[SelectionSetNode | None, frozenset[str]]:
    """Return the selection set a fragment spread or inline fragment stands for."""
    if isinstance(node, InlineFragmentNode):
        return node.selection_set, seen
    name = node.name.value
    if name in seen:
        # NoFragmentCyclesRule reports the cycle; stop expanding it here.
        return None, seen
    fragment = context.get_fragment(name)
    return (fragment.selection_set if fragment is not None else None), seen | {name}


def query_depth(context: ValidationContext, selection_set: SelectionSetNode | None, seen: frozenset[str] = frozenset()) -> int:
    """Return the depth of ``selection_set`` with fragments expanded."""
    if selection_set is None:
        return 0
    deepest = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            deepest = max(deepest, 1 + query_depth(context, selection.selection_set, seen))
        elif isinstance(selection, (FragmentSpreadNode, InlineFragmentNode)):
            inner, inner_seen = _fragment_selections(context, selection, seen)
            deepest = max(deepest, query_depth(context, inner, inner_seen))
    return deepest


def _condition_type(context: ValidationContext, node: Any, parent: GraphQLNamedType | None) -> GraphQLNamedType | None:
    if isinstance(node, InlineFragmentNode):
        condition = node.type_condition
    else:
        fragment = context.get_fragment(node.name.value)
        condition = fragment.type_condition if fragment is not None else None
    if condition is None:
        return parent
    return context.schema.get_type(condition.name.value)


def query_cost(
    context: ValidationContext,
    selection_set: SelectionSetNode | None,
    parent: GraphQLNamedType | None,
    seen: frozenset[str] = frozenset(),
) -> int:
    """Return the cost of ``selection_set`` under ``parent`` (see the module docstring)."""
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            name = selection.name.value
            if name.startswith("__"):
                continue
            fields = parent.fields if isinstance(parent, GraphQLObjectType) else {}
            definition = fields.get(name)
            if definition is None:
                # FieldsOnCorrectTypeRule reports unknown fields; count them as leaves.
                total += 1
                continue
            field_type = definition.type
            if is_non_null_type(field_type):
                field_type = field_type.of_type
            factor = LIST_FACTOR if is_list_type(field_type) else 1
            total += factor * (1 + query_cost(context, selection.selection_set, get_named_type(definition.type), seen))
        elif isinstance(selection, (FragmentSpreadNode, InlineFragmentNode)):
            inner, inner_seen = _fragment_selections(context, selection, seen)
            total += query_cost(context, inner, _condition_type(context, selection, parent), inner_seen)
    return total


def depth_limit_rule(max_depth: int) -> type[ValidationRule]:
    """Return a validation rule that rejects operations nested deeper than ``max_depth``."""

    class DepthLimitRule(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
            depth = query_depth(self.context, node.selection_set)
            if depth > max_depth:
                self.report_error(
                    GraphQLError(
                        f"query depth {depth} exceeds the maximum of {max_depth}; request fewer nested fields",
                        node,
                    )
                )

    return DepthLimitRule


def cost_limit_rule(max_cost: int) -> type[ValidationRule]:
    """Return a validation rule that rejects operations costing more than ``max_cost``."""

    class CostLimitRule(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
            root = self.context.schema.get_root_type(node.operation)
            cost = query_cost(self.context, node.selection_set, root)
            if cost > max_cost:
                self.report_error(
                    GraphQLError(
                        f"query cost {cost} exceeds the maximum of {max_cost} (each field costs 1, "
                        f"times {LIST_FACTOR} under each list); request fewer fields or split the query",
                        node,
                    )
                )

    return CostLimitRule
