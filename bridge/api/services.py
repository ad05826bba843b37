"""How a request handler gets its account's components: by dependency injection.

The app's lifespan builds one :class:`~bridge.deployment.Deployment` (every account's
components over shared clients) inside the serving event loop and closes it on shutdown.
Handlers name a ``services`` parameter to receive the components of the request's account:
the one the ``/v1`` guard chose (:func:`bridge.api.access.account_of`), or, on a route
outside the guard, the one named by an ``account`` path parameter, else the first.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.di import NamedDependency

from bridge.api.problems import ProblemError
from bridge.deployment import Deployment
from bridge.wiring import Components

__all__ = ["DeploymentDep", "ServicesDep", "deployment_of", "services_of"]


def deployment_of(request: ASGIConnection[Any, Any, Any, Any]) -> Deployment:
    deployment: Deployment = request.app.state.deployment
    return deployment


def services_of(request: ASGIConnection[Any, Any, Any, Any]) -> Components:
    deployment = deployment_of(request)
    account = request.scope.get("state", {}).get("account") or request.path_params.get("account")
    if account is None:
        return deployment.first
    components = deployment.get(str(account))
    if components is None:
        # Only a path parameter can name an unknown account: the guard sets configured ones.
        raise ProblemError(
            404, "account_not_found", "No such Calypso account", "Not an account of this bridge."
        )
    return components


ServicesDep = NamedDependency[Components]
DeploymentDep = NamedDependency[Deployment]
