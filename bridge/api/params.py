"""Path and query parameters shared by several controllers."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar.params import PathParameter, QueryParameter

__all__ = ["Cursor", "CustomerId", "TransactionId", "before_first_entry"]

CustomerId = Annotated[uuid.UUID, PathParameter(description="Calypso customer id (a UUID).")]
TransactionId = Annotated[uuid.UUID, PathParameter(description="Calypso transaction id (a UUID).")]
# A Redis stream entry id ("ms-seq"). At most 19 digits a part keeps every cursor the pattern
# admits within the 64-bit range Redis accepts (entry ids have 13-digit milliseconds); [0-9],
# not \d, which in Python also matches other scripts' digits, which Redis refuses.
Cursor = Annotated[str | None, QueryParameter(pattern=r"^[0-9]{1,19}-[0-9]{1,19}$")]


def before_first_entry(cursor: str | None) -> bool:
    """Whether ``cursor`` is ``0-0``: nothing is older, and Redis refuses the range before it."""
    return cursor is not None and all(int(part) == 0 for part in cursor.split("-"))
