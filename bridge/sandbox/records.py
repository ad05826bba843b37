"""What the sandbox stores, and the errors it refuses requests with.

Records are mutable on purpose: the control endpoints move a transaction through its states
in place. Errors are :class:`SandboxError` subclasses; the Calypso endpoints and the control
endpoints each translate them into their own wire shape.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from bridge.calypso.models import ComplianceState, TransactionState
from bridge.sandbox.addresses import Network

__all__ = [
    "Conflict",
    "CustomerRecord",
    "InvalidRequest",
    "ObjectNotFound",
    "PurseRecord",
    "SandboxError",
    "TransactionRecord",
    "rfc3339",
]


class SandboxError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ObjectNotFound(SandboxError):
    """Calypso ``004``; 404 on the control endpoints."""


class InvalidRequest(SandboxError):
    """Calypso ``001``; 400 on the control endpoints."""


class Conflict(SandboxError):
    """A lifecycle move the sandbox refuses (409 on the control endpoints)."""


@dataclass(slots=True)
class CustomerRecord:
    id: uuid.UUID
    blocked: bool = False
    email: str | None = None
    description: str | None = None
    external_id: str | None = None


@dataclass(slots=True)
class PurseRecord:
    id: uuid.UUID
    customer_id: uuid.UUID
    network: Network
    address: str
    created_us: int
    expired: bool = False


@dataclass(slots=True)
class TransactionRecord:
    id: uuid.UUID
    customer_id: uuid.UUID
    purse_id: uuid.UUID
    currency: str
    amount: Decimal
    address_from: str
    transaction_hash: str
    state: TransactionState
    compliance: ComplianceState
    credited: bool
    created_us: int


def rfc3339(epoch_us: int) -> str:
    seconds, micros = divmod(epoch_us, 1_000_000)
    moment = datetime.fromtimestamp(seconds, UTC).replace(microsecond=micros)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
