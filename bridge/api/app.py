"""The API application: routes, authentication, problem documents and client lifetimes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec
from litestar import Litestar, Router
from litestar._openapi.schema_generation import SchemaCreator
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, Schema, SecurityScheme
from litestar.typing import FieldDefinition

from bridge import __version__, wiring
from bridge.api import health
from bridge.api.access import configured_accounts, provide_caller
from bridge.api.addresses import AddressController
from bridge.api.audit import AuditController
from bridge.api.auth import bearer_guard
from bridge.api.customers import CustomerController
from bridge.api.event_stream import stream_events
from bridge.api.event_types import EventTypeController
from bridge.api.events import EventController
from bridge.api.inbound import calypso_webhook, calypso_webhook_of_account
from bridge.api.observe import RequestObserver
from bridge.api.open_streams import OpenStreams
from bridge.api.problems import exception_handlers
from bridge.api.services import deployment_of, services_of
from bridge.api.subscriptions import SubscriptionController
from bridge.api.transactions import TransactionController
from bridge.api.watch import WatchController
from bridge.calypso.retry import RetryPolicy
from bridge.config import Settings
from bridge.deployment import Deployment
from bridge.metrics import Metrics

__all__ = ["create_app"]

DESCRIPTION = """\
Internal REST endpoints in front of Calypso's Customer Purse API: create customers, issue
deposit addresses, read purses and transactions, and choose which customers the bridge
watches. Every `/v1` route needs `Authorization: Bearer <token>` with the scope it lists
(`admin` implies every scope); a token for several accounts names one in the
`Calypso-Account` header. Errors are RFC 9457 problem
documents with a stable `code`; amounts are decimal strings.
"""


def create_app(
    settings: Settings,
    *,
    retry: RetryPolicy | None = None,
    metrics: Metrics | None = None,
    sse_heartbeat: float = 15.0,
) -> Litestar:
    """Build the app. Its clients live and die with the app's event loop (the lifespan).

    ``app.state.streams`` holds the open event streams; a server ends them when it shuts
    down (:mod:`bridge.api.serving`), so they do not hold up a graceful shutdown.
    """
    metrics = metrics or Metrics()
    streams = OpenStreams(settings.sse_max_streams_per_token, heartbeat=sse_heartbeat)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        deployment = Deployment(settings, upstream=wiring.measured, retry=retry, metrics=metrics)
        app.state.deployment = deployment
        # Settles what a crashed API process left (bridge.recovery); from start, not only in
        # the worker, so an API restarted after a crash completes its own intents.
        stop = asyncio.Event()
        recoveries = [asyncio.create_task(c.recovery.run(stop)) for c in deployment]
        try:
            yield
        finally:
            streams.close()
            stop.set()
            await asyncio.gather(*recoveries, return_exceptions=True)
            await deployment.aclose()

    v1 = Router(
        path="/v1",
        route_handlers=[
            CustomerController,
            AddressController,
            TransactionController,
            WatchController,
            stream_events,
            EventController,
            EventTypeController,
            SubscriptionController,
            AuditController,
        ],
        dependencies={"caller": Provide(provide_caller, sync_to_thread=False)},
        # Each route names its scope, and with it its bearer requirement (access.requires).
        guards=[bearer_guard(settings.grants, configured_accounts(settings))],
    )
    return Litestar(
        route_handlers=[
            v1,
            calypso_webhook,
            calypso_webhook_of_account,
            health.live,
            health.ready,
            health.metrics,
        ],
        middleware=[RequestObserver(metrics)],
        dependencies={
            "services": Provide(services_of, sync_to_thread=False),
            "deployment": Provide(deployment_of, sync_to_thread=False),
        },
        exception_handlers=exception_handlers,
        plugins=[StrictBodySchemaPlugin(), EventSchemaPlugin()],
        lifespan=[lifespan],
        state=State({"streams": streams}),
        openapi_config=openapi_config(),
        # Logging is the process's business (bridge.observability), not the framework's.
        logging_config=None,
        debug=False,
    )


class StrictBodySchemaPlugin(StructSchemaPlugin):
    """Bodies that refuse unknown fields say so in the spec: ``additionalProperties: false``.

    Litestar's own plugin leaves it out, so the document promised that extra fields are
    accepted while msgspec (``forbid_unknown_fields``) answers 400.
    """

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        if not super().is_plugin_supported_field(field_definition):
            return False
        # The struct's own config: msgspec.inspect would build a decoder, and an event (whose
        # data is an untagged union, decoded by type) has none.
        config: msgspec.structs.StructConfig = field_definition.type_.__struct_config__
        return config.forbid_unknown_fields

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        schema.additional_properties = False
        return schema


class EventSchemaPlugin(StructSchemaPlugin):
    """The event envelope (and pages of it), documented from the fields, ``data`` as oneOf.

    Litestar's own plugin asks msgspec to inspect a struct, which means building a decoder,
    and the envelope has none: its ``data`` is an untagged union that ``Event.decode`` reads
    by ``type``. So every struct msgspec cannot inspect is documented from its fields here.
    """

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        if not super().is_plugin_supported_field(field_definition):
            return False
        try:
            msgspec.inspect.type_info(field_definition.type_)
        except TypeError:
            return True
        return False

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        hints = field_definition.get_type_hints(include_extras=True, resolve_generics=True)
        fields = msgspec.structs.fields(field_definition.type_)
        properties = {
            f.encode_name: FieldDefinition.from_annotation(hints[f.name], name=f.encode_name)
            for f in fields
        }
        return schema_creator.create_component_schema(
            field_definition,
            required=sorted(f.encode_name for f in fields if f.required),
            property_fields=properties,
        )


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Calypso webhook bridge",
        version=__version__,
        description=DESCRIPTION,
        path="/docs",
        render_plugins=[SwaggerRenderPlugin(), JsonRenderPlugin()],
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(type="http", scheme="bearer", description="API token")
            }
        ),
    )
