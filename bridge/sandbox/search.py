"""``transaction/find``: Calypso's criteria filters, sorting by a named field, and paging.

The filters follow the JHipster criteria Calypso's DTOs are generated from: every given
criterion must hold; ``specified`` tests for presence; ``contains`` and ``doesNotContain``
ignore case (they become ``upper(x) like upper('%v%')`` there). Ties in the sort field are
broken by id, so paging through equal values never repeats or skips a transaction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from bridge.calypso.models import StringFilter, TransactionSearch, TransactionStateFilter
from bridge.sandbox.records import InvalidRequest, TransactionRecord

if TYPE_CHECKING:
    from _typeshed import SupportsRichComparison

__all__ = ["MAX_PAGE_SIZE", "SORT_FIELDS", "SearchResult", "find_transactions"]

MAX_PAGE_SIZE = 1000

SortKey = Callable[[TransactionRecord], "SupportsRichComparison"]

# The PGTransactionDTO field names ``properties`` may name, each with the value it sorts by.
SORT_FIELDS: MappingProxyType[str, SortKey] = MappingProxyType(
    {
        "id": lambda t: str(t.id),
        "amount": lambda t: t.amount,
        "addressFrom": lambda t: t.address_from,
        "currency": lambda t: t.currency,
        "transactionHash": lambda t: t.transaction_hash,
        "transactionState": lambda t: t.state.value,
        "complianceState": lambda t: t.compliance.value,
        "translationToAccountCompleted": lambda t: t.credited,
        "createdDate": lambda t: t.created_us,
    }
)


@dataclass(frozen=True, slots=True)
class SearchResult:
    page: list[TransactionRecord]
    total_elements: int
    total_pages: int


def find_transactions(
    transactions: Iterable[TransactionRecord], search: TransactionSearch
) -> SearchResult:
    if search.pageNumber < 1:
        raise InvalidRequest("pageNumber must be at least 1")
    if not 1 <= search.pageSize <= MAX_PAGE_SIZE:
        raise InvalidRequest(f"pageSize must be between 1 and {MAX_PAGE_SIZE}")
    sort_key = SORT_FIELDS.get(search.properties)
    if sort_key is None:
        raise InvalidRequest(
            f"cannot sort by {search.properties!r}; sortable: {', '.join(SORT_FIELDS)}"
        )
    matching = [
        t
        for t in transactions
        if _matches_currency(t.currency, search.currencyFilter)
        and _matches_state(t.state.value, search.transactionStateFilter)
    ]
    # Two stable sorts: id first, then the field, so equal values keep ascending id order.
    matching.sort(key=lambda t: str(t.id))
    matching.sort(key=sort_key, reverse=search.sort == "DESC")
    start = (search.pageNumber - 1) * search.pageSize
    return SearchResult(
        page=matching[start : start + search.pageSize],
        total_elements=len(matching),
        total_pages=math.ceil(len(matching) / search.pageSize),
    )


def _matches_equality(
    value: str,
    *,
    equals: str | None,
    not_equals: str | None,
    specified: bool | None,
    in_: Sequence[str] | None,
    not_in: Sequence[str] | None,
) -> bool:
    # Both filtered fields are always present on a transaction, so ``specified: false``
    # matches nothing and ``specified: true`` everything.
    return (
        (equals is None or value == equals)
        and (not_equals is None or value != not_equals)
        and (specified is None or specified)
        and (in_ is None or value in in_)
        and (not_in is None or value not in not_in)
    )


def _matches_currency(currency: str, criteria: StringFilter | None) -> bool:
    if criteria is None:
        return True
    folded = currency.upper()
    return (
        _matches_equality(
            currency,
            equals=criteria.equals,
            not_equals=criteria.notEquals,
            specified=criteria.specified,
            in_=criteria.in_,
            not_in=criteria.notIn,
        )
        and (criteria.contains is None or criteria.contains.upper() in folded)
        and (criteria.doesNotContain is None or criteria.doesNotContain.upper() not in folded)
    )


def _matches_state(state: str, criteria: TransactionStateFilter | None) -> bool:
    if criteria is None:
        return True
    return _matches_equality(
        state,
        equals=criteria.equals,
        not_equals=criteria.notEquals,
        specified=criteria.specified,
        in_=criteria.in_,
        not_in=criteria.notIn,
    )
