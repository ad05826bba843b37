"""How a request handler gets the process's components: by dependency injection.

The app's lifespan builds one :class:`~bridge.wiring.Components` inside the serving event
loop and closes it on shutdown; handlers name a ``services`` parameter to receive it.
"""

from __future__ import annotations

from litestar.datastructures import State
from litestar.di import NamedDependency

from bridge.wiring import Components

__all__ = ["ServicesDep", "services_of"]


def services_of(state: State) -> Components:
    services: Components = state.services
    return services


ServicesDep = NamedDependency[Components]
