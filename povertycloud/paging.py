"""Keyset pagination: pages found by the key of their first or last row, never by OFFSET or a COUNT."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL
from django.http import QueryDict


@dataclass
class Page:
    rows: list
    next_key: str | None = None
    previous_key: str | None = None
    is_first: bool = True


def row_compare(table: str, columns: tuple[str, str], operator: str, values: tuple[Any, Any]) -> RawSQL:
    """(a, b) < (x, y): a row comparison, which an index on (a, b) can seek to; SQLite and PostgreSQL both
    understand it."""
    quoted = connection.ops.quote_name(table)
    names = ", ".join(f"{quoted}.{connection.ops.quote_name(name)}" for name in columns)
    return RawSQL(f"({names}) {operator} (%s, %s)", values, output_field=BooleanField())


def _for_database(queryset: QuerySet, columns: tuple[str, str], key: tuple[Any, Any] | None):
    """A key's values as the database stores them (a raw row comparison skips the fields' conversion: an
    aware datetime would compare as text against SQLite's stored form)."""
    if key is None:
        return None
    fields = [queryset.model._meta.get_field(name) for name in columns]
    return tuple(field.get_db_prep_value(value, connection) for field, value in zip(fields, key, strict=True))


def keyset_page(
    queryset: QuerySet,
    *,
    columns: tuple[str, str],
    descending: bool,
    parse: Callable[[str | None], tuple[Any, Any] | None],
    key_of: Callable[[Any], str],
    after: str | None,
    before: str | None,
    size: int,
) -> Page:
    """One page of queryset ordered by columns (the second a unique tiebreak), after or before a key.
    Reads size + 1 rows; the extra row only says whether another page follows."""
    table = queryset.model._meta.db_table
    forward = [f"-{c}" for c in columns] if descending else list(columns)
    backward = list(columns) if descending else [f"-{c}" for c in columns]
    onward, back = ("<", ">") if descending else (">", "<")
    before_key = _for_database(queryset, columns, parse(before))
    after_key = _for_database(queryset, columns, parse(after))
    return read_page(
        queryset,
        forward=forward,
        backward=backward,
        before=row_compare(table, columns, back, before_key) if before_key is not None else None,
        after=row_compare(table, columns, onward, after_key) if after_key is not None else None,
        key_of=key_of,
        size=size,
    )


def read_page(
    queryset: QuerySet,
    *,
    forward: list[str],
    backward: list[str],
    before: Any,
    after: Any,
    key_of: Callable[[Any], str],
    size: int,
) -> Page:
    """The rows of one page: before a key (read backwards, then turned round) or after one, by the filters the
    caller built for its order (before/after: a filter expression, or None when the request has no such key)."""
    if before is not None:
        found = list(queryset.filter(before).order_by(*backward)[: size + 1])
        has_more = len(found) > size
        items = list(reversed(found[:size]))
        page = Page(rows=items, is_first=not has_more)
        page.previous_key = key_of(items[0]) if has_more and items else None
        page.next_key = key_of(items[-1]) if items else None
        return page
    if after is not None:
        queryset = queryset.filter(after)
    found = list(queryset.order_by(*forward)[: size + 1])
    items = found[:size]
    page = Page(rows=items, is_first=after is None)
    page.next_key = key_of(items[-1]) if len(found) > size else None
    page.previous_key = key_of(items[0]) if after is not None and items else None
    return page


def query_without_keys(query: QueryDict) -> str:
    """The page's query string without its page key, for the pager's links (filters kept)."""
    kept = query.copy()
    for key in ("after", "before"):
        kept.pop(key, None)
    return kept.urlencode()
