"""What every Lupa service app has: database, auth, problems, logging, health, its audit
feed and webhooks, OpenAPI."""

from __future__ import annotations

import asyncio
import ipaddress
import os
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import structlog
from litestar import Litestar, get
from litestar.config.app import AppConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import ASGIApp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.audit.api import AuditController, WebhookController
from shared.audit.lag_metrics import outbox_families
from shared.audit.outbox import AuditedTransactions, audited_sessions
from shared.auth.guards import VERIFIER_STATE_KEY, assert_every_route_guarded
from shared.auth.tokens import AccessTokenVerifier
from shared.db.borrowed import BorrowedConnections
from shared.db.engine import create_engine
from shared.db.write_pool import create_write_pool
from shared.health import ENGINE_KEY, HealthController
from shared.http_limits import BodyReadTimeout, ServerLimits
from shared.http_methods import HttpMethodsMiddleware, path_methods
from shared.keys import Keyring, load_keyring
from shared.last_resort import LastResort
from shared.logging import RequestLogMiddleware, configure_logging
from shared.metrics.buffered import flushing
from shared.metrics.endpoint import METRICS_SOURCES_KEY, MetricsSource, metrics
from shared.metrics.exposition import forget_this_worker
from shared.metrics.instruments import RequestMetrics, mark_worker_started
from shared.openapi import describe_responses
from shared.openapi_viewer import viewer, viewer_assets
from shared.problems import exception_handlers
from shared.security_headers import SecurityHeaders
from shared.settings import Settings
from shared.strict_input import RefuseControlCharacters, StrictJSONRequest
from shared.token_exchange_api import exchange_token
from shared.web.pages import static_router, template_config

KEYRING_KEY = "keyring"
SESSION_FACTORY_KEY = "session_factory"
WRITE_TRANSACTIONS_KEY = "write_transactions"  # plain asyncpg ones, for the hottest writes


@get(
    "/.well-known/jwks.json",
    opt={"public": True, "database": False},
    tags=["keys"],
    summary="Public keys that verify Lupa's tokens, receipts and signed links",
)
async def jwks(state: State) -> dict[str, Any]:
    keyring: Keyring = state[KEYRING_KEY]
    return keyring.newest().jwks()  # keys added by a rotation are published without a restart


# Every service answers these: probes, its public keys, the token exchange, its audit trail
# and webhooks, metrics.
KERNEL_ROUTES = (
    HealthController,
    jwks,
    exchange_token,
    AuditController,
    WebhookController,
    metrics,
)


async def provide_transaction(state: State) -> AsyncGenerator[AsyncSession, None]:
    """One transaction per request: commits when the handler returns, rolls back if it raises.

    Litestar closes this dependency before the response is sent, so a client never sees a
    success for a change that did not commit.
    """
    factory: async_sessionmaker[AsyncSession] = state[SESSION_FACTORY_KEY]
    async with factory() as session, session.begin():
        yield session


def provide_keyring(state: State) -> Keyring:
    return state[KEYRING_KEY]  # type: ignore[no-any-return]


def warn_unless_https(public_base_url: str) -> bool:
    """Log a warning when links would go out over plain HTTP to a non-loopback host (RFC 8058
    requires HTTPS for one-click unsubscribe; signed links are bearer credentials). True if
    it warned."""
    parts = urlsplit(public_base_url)
    host = parts.hostname or ""
    loopback = host == "localhost" or _is_loopback_address(host)
    if parts.scheme == "https" or loopback:
        return False
    structlog.get_logger("lupa").warning(
        "public_url_not_https",
        public_url=public_base_url,
        hint="links minted now are not HTTPS: set LUPA_<SERVICE>_PUBLIC_URL to an https:// URL",
    )
    return True


def _is_loopback_address(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_app(
    settings: Settings,
    route_handlers: Sequence[Any],
    *,
    title: str,
    keyring: Keyring | None = None,
    state: dict[str, Any] | None = None,
    dependencies: dict[str, Provide] | None = None,
    lifespan: Sequence[Any] = (),
    templates: Sequence[Path] = (),
    metrics_sources: Sequence[MetricsSource] = (),
) -> Litestar:
    configure_logging(json=settings.log_json, level=settings.log_level)
    warn_unless_https(settings.http.public_base_url)
    keyring = keyring or load_keyring(settings.keys_path)

    @asynccontextmanager
    async def database(app: Litestar) -> AsyncGenerator[None, None]:
        engine = create_engine(settings.database)
        app.state[ENGINE_KEY] = engine
        app.state[SESSION_FACTORY_KEY] = audited_sessions(engine)
        write_pool = await create_write_pool(settings.database)
        write_connections = BorrowedConnections(write_pool, settings.database.write_pool_size)
        app.state[WRITE_TRANSACTIONS_KEY] = AuditedTransactions(
            engine, write_connections, settings.database.pool_timeout_s
        )
        mark_worker_started()
        try:
            async with flushing():
                yield
        finally:
            forget_this_worker()
            await write_connections.close()
            await write_pool.close()
            await engine.dispose()

    tracing_lifespan, traced = _tracing(settings)
    app = Litestar(
        route_handlers=[
            *KERNEL_ROUTES,
            viewer_assets(),
            static_router(),
            *route_handlers,
        ],
        template_config=template_config(templates),
        state=State(
            {
                KEYRING_KEY: keyring,
                VERIFIER_STATE_KEY: AccessTokenVerifier(keyring),
                "settings": settings,
                METRICS_SOURCES_KEY: (outbox_families, *metrics_sources),
                **(state or {}),
            }
        ),
        dependencies={
            "tx": Provide(provide_transaction),
            "keyring": Provide(provide_keyring, sync_to_thread=False),
            **(dependencies or {}),
        },
        exception_handlers=exception_handlers,
        middleware=[RefuseControlCharacters],
        request_class=StrictJSONRequest,
        lifespan=[*tracing_lifespan, database, *lifespan],
        request_max_body_size=settings.http.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title=title,
            version="1.0.0",
            path="/schema",
            render_plugins=[viewer()],
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
                }
            ),
        ),
        on_app_init=[_no_debug],
    )
    assert_every_route_guarded(app)
    # Outside Litestar's router, so that answers the router gives itself (404 of an unknown
    # path, 405) also get a request id and an access-log line; HEAD and OPTIONS are answered
    # there too (shared/http_methods.py).
    app.asgi_handler = RequestLogMiddleware(
        traced(
            SecurityHeaders(
                HttpMethodsMiddleware(app.asgi_handler, app.asgi_router, path_methods(app)),
                settings.http,
            )
        ),
        observe=RequestMetrics().observe,
    )
    # So that every read of a body has its deadline (shared/http_limits.py).
    app.asgi_handler = BodyReadTimeout(app.asgi_handler, ServerLimits.from_env().body_timeout_s)
    # Outermost: whatever escapes the layers above is a 500 problem and a log line without
    # its message (shared/last_resort.py).
    app.asgi_handler = LastResort(app.asgi_handler)
    describe_responses(app)  # last: it builds the document from the finished handlers
    return app


def _tracing(settings: Settings) -> tuple[list[Any], Callable[[ASGIApp], ASGIApp]]:
    """With tracing on (``Settings.tracing``): the lifespan that flushes the spans at shutdown
    and the layer that makes them, inside the request log so each span carries the request's
    id. Off, nothing: the OpenTelemetry SDK is not even imported."""
    if not settings.tracing:
        return [], lambda app: app
    from shared.tracing import TracingMiddleware, tracer_provider

    provider = tracer_provider(settings.service, os.environ)

    @asynccontextmanager
    async def flush_spans(_: Litestar) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            await asyncio.to_thread(provider.shutdown)  # blocking: the last batch's POST

    tracer = provider.get_tracer("lupa")
    return [flush_spans], lambda app: TracingMiddleware(app, tracer)


def _no_debug(config: AppConfig) -> AppConfig:
    config.debug = False
    return config
