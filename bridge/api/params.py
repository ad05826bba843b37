"""Path parameters shared by several controllers."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar.params import PathParameter

__all__ = ["CustomerId", "TransactionId"]

CustomerId = Annotated[uuid.UUID, PathParameter(description="Calypso customer id (a UUID).")]
TransactionId = Annotated[uuid.UUID, PathParameter(description="Calypso transaction id (a UUID).")]
