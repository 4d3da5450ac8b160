"""Optional OpenTelemetry tracing: one server span per request, exported over OTLP/HTTP.

On only when configured (``shared.settings.tracing_from_env``: an OTLP endpoint set, the SDK
not disabled); otherwise nothing here runs and no request pays for it. The exporter and the
batching read the standard ``OTEL_*`` variables themselves (endpoint, headers, timeout,
``OTEL_BSP_*``), the sampler too (``OTEL_TRACES_SAMPLER``); the incoming W3C ``traceparent``
is honoured, so Lupa's spans join the caller's trace.

A span says what the access log says and no more: method, route template, status, request id.
Never the raw path or query (they hold a customer's id), the client's address or its user
agent (personal data), nor an exception's message. That is why the spans are made here: the
ASGI instrumentation package records all of those, and scrubbing what a library adds would
miss whatever its next version adds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

# Only traceparent/tracestate: W3C baggage is free text a caller could fill with anything.
_PROPAGATOR = TraceContextTextMapPropagator()


def tracer_provider(service: str, env: Mapping[str, str]) -> TracerProvider:
    """A provider of this process's own (not the global one: each app in a process, as in
    the tests, has its own), exporting in batches over OTLP/HTTP; ``shutdown`` flushes it."""
    name = env.get("OTEL_SERVICE_NAME") or f"lupa-{service}"
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


class _ScopeHeaders(Getter[Iterable[tuple[bytes, bytes]]]):
    """Reads the ASGI scope's raw headers for the propagator."""

    def get(self, carrier: Iterable[tuple[bytes, bytes]], key: str) -> list[str] | None:
        wanted = key.encode()
        found = [value.decode("latin-1") for name, value in carrier if name == wanted]
        return found or None

    def keys(self, carrier: Iterable[tuple[bytes, bytes]]) -> list[str]:
        return [name.decode("latin-1") for name, _ in carrier]


_HEADERS = _ScopeHeaders()


class TracingMiddleware:
    """A server span around each HTTP request, named ``METHOD route-template`` once the router
    has matched (``METHOD`` alone for a path no route matched)."""

    def __init__(self, app: ASGIApp, tracer: Tracer) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]
            await self.app(scope, receive, send)
            return
        parent: Context = _PROPAGATOR.extract(scope.get("headers", ()), getter=_HEADERS)
        method = str(scope.get("method", "?"))
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with self.tracer.start_as_current_span(
            method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method},
            record_exception=False,  # its message and stack may hold request data
            set_status_on_exception=False,
        ) as span:
            try:
                await self.app(scope, receive, send_and_note)
            except BaseException as exc:
                span.set_attribute("error.type", type(exc).__qualname__)
                raise
            finally:
                route = scope.get("path_template")
                if route:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if request_id := scope.get("state", {}).get("request_id"):
                    span.set_attribute("lupa.request_id", request_id)  # the access log's id
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
