"""The ten endpoints of the Customer Purse API: path, payload and answer types.

The client and the sandbox both route through this table, so they cannot disagree on a path
or a schema. ``read`` marks the calls that change nothing upstream and so may be retried
blindly after a transport error or a 5xx.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from bridge.calypso import models

__all__ = ["ENDPOINTS", "Endpoint"]

BASE_PATH = "/api/v1/customer-purse"


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    path: str
    payload: type[msgspec.Struct]
    response: type[msgspec.Struct]
    read: bool


def _endpoint(
    name: str,
    suffix: str,
    payload: type[msgspec.Struct],
    response: type[msgspec.Struct],
    *,
    read: bool,
) -> Endpoint:
    return Endpoint(name, f"{BASE_PATH}/{suffix}", payload, response, read)


CUSTOMER_CREATE = _endpoint(
    "customer.create", "customer/create", models.CustomerCreate, models.Customer, read=False
)
CUSTOMER_GET = _endpoint(
    "customer.get", "customer/get", models.ByCustomerId, models.Customer, read=True
)
CUSTOMER_BY_EXTERNAL_ID = _endpoint(
    "customer.external.get",
    "customer/external/get",
    models.ByExternalId,
    models.CustomerList,
    read=True,
)
CUSTOMER_UPDATE = _endpoint(
    "customer.update", "customer/update", models.CustomerUpdate, models.Customer, read=False
)
CUSTOMER_BLOCK = _endpoint(
    "customer.block", "customer/block", models.ByCustomerId, models.Customer, read=False
)
CUSTOMER_UNBLOCK = _endpoint(
    "customer.unblock", "customer/unblock", models.ByCustomerId, models.Customer, read=False
)
ADDRESS_GET = _endpoint(
    "address.get", "address/get", models.PurseAddressRequest, models.Purse, read=False
)
PURSES_GET_ALL = _endpoint(
    "purse.get-all", "purse/get-all", models.ByCustomerId, models.PurseList, read=True
)
TRANSACTION_GET = _endpoint(
    "transaction.get", "transaction/get", models.ByTransactionId, models.Transaction, read=True
)
TRANSACTION_FIND = _endpoint(
    "transaction.find",
    "transaction/find",
    models.TransactionSearch,
    models.TransactionPage,
    read=True,
)

ENDPOINTS: tuple[Endpoint, ...] = (
    CUSTOMER_CREATE,
    CUSTOMER_GET,
    CUSTOMER_BY_EXTERNAL_ID,
    CUSTOMER_UPDATE,
    CUSTOMER_BLOCK,
    CUSTOMER_UNBLOCK,
    ADDRESS_GET,
    PURSES_GET_ALL,
    TRANSACTION_GET,
    TRANSACTION_FIND,
)
