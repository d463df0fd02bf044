"""The cursor-page list object every list endpoint answers with."""

from __future__ import annotations

from starlette.datastructures import QueryParams

from responsa.api.query import int_param, order_param
from responsa.store.base import ItemPage, JSONDict, Order


def list_object(page: ItemPage, id_key: str = "id") -> JSONDict:
    data = page.data
    return {"object": "list", "data": data,
            "first_id": data[0][id_key] if data else None,
            "last_id": data[-1][id_key] if data else None,
            "has_more": page.has_more}


def page_params(query: QueryParams, *, default_limit: int = 20,
                max_limit: int = 100) -> tuple[str | None, int, Order]:
    """`after`, `limit` and `order` (newest first unless asked)."""
    limit = int_param(query, "limit", default=default_limit, minimum=1, maximum=max_limit)
    assert limit is not None
    return query.get("after"), limit, "asc" if order_param(query) == "asc" else "desc"
