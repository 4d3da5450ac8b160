"""OpenTelemetry tracing, switched on by configuration: what an OTLP collector receives.

A real HTTP collector on loopback takes the exports; they are decoded with the OpenTelemetry
protocol's own protobuf definitions, not with anything of Lupa's. Spans must join the caller's
trace and must carry no personal data: no customer id, no client address, no user agent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from shared.settings import Settings
from tests.ledger_helpers import scene
from tests.loopback_http import QuietHandler, loopback_server

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
USER_AGENT = "tracing-test-agent/7.1"


@dataclasses.dataclass
class Collector:
    url: str
    exports: list[bytes]


@pytest.fixture
def collector() -> Iterator[Collector]:
    exports: list[bytes] = []

    class Receive(QuietHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            if self.path == "/v1/traces":
                exports.append(self.rfile.read(length))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

    with loopback_server(Receive) as port:
        yield Collector(f"http://127.0.0.1:{port}", exports)


def spans_of(exports: list[bytes]) -> list[Any]:
    spans = []
    for body in exports:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                spans += [(service, span) for span in scope_spans.spans]
    return spans


def attributes(span: Any) -> dict[str, Any]:
    values = {}
    for attribute in span.attributes:
        value = attribute.value
        values[attribute.key] = (
            value.int_value if value.HasField("int_value") else value.string_value
        )
    return values


@pytest.fixture
def traced_app(
    consent_settings: Settings,
    keyring: Any,
    connector_secret: str,
    collector: Collector,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[], Any]:
    """The consent app as ``Settings.from_env`` builds it with an OTLP endpoint set."""
    from services.consent.app import create_app
    from services.consent.settings import ConsentSettings

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)

    def build() -> Any:
        return create_app(
            dataclasses.replace(consent_settings, tracing=True),
            keyring=keyring,
            consent=ConsentSettings(connector_secret=connector_secret),
        )

    return build


async def test_each_request_is_a_server_span_in_the_callers_trace_without_personal_data(
    traced_app: Callable[[], Any], collector: Collector, auth: Any, new_id: Any
) -> None:
    caller = {"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01", "User-Agent": USER_AGENT}
    async with AsyncTestClient(app=traced_app(), base_url="http://testserver.local") as client:
        key, ext = await scene(client, auth, new_id)
        written = await client.post(
            f"/v1/subjects/{ext}/consents",
            json={"purpose": key, "channel": "email", "action": "grant"},
            headers={**auth("admin"), **caller},
        )
        assert written.status_code == 201
        checked = await client.get(
            "/v1/check",
            params={"subject": ext, "purpose": key, "channel": "email"},
            headers={**auth("admin"), "User-Agent": USER_AGENT},
        )
        assert checked.status_code == 200 and checked.json()["allowed"] is True
        unknown = await client.get(f"/no-such-page/{ext}", headers={"User-Agent": USER_AGENT})
        assert unknown.status_code == 404
    # Leaving the client ran the app's shutdown, which flushes the last batch.

    spans = spans_of(collector.exports)
    services = {service["service.name"] for service, _ in spans}
    assert services == {"lupa-consent"}
    named = {span.name: span for _, span in spans}
    write = named["POST /v1/subjects/{external_id}/consents"]
    assert write.trace_id.hex() == TRACE_ID
    assert write.parent_span_id.hex() == CALLER_SPAN
    assert write.kind == write.SPAN_KIND_SERVER
    assert attributes(write) == {
        "http.request.method": "POST",
        "http.route": "/v1/subjects/{external_id}/consents",
        "http.response.status_code": 201,
        "lupa.request_id": written.headers["x-request-id"],
    }
    check = named["GET /v1/check"]
    assert check.trace_id.hex() != TRACE_ID  # no traceparent: a trace of its own
    assert attributes(check)["http.response.status_code"] == 200
    assert attributes(named["GET"]) == {
        "http.request.method": "GET",
        "http.response.status_code": 404,
        "lupa.request_id": unknown.headers["x-request-id"],
    }
    # Nothing a span carries names the customer, their address or their browser.
    for body in collector.exports:
        for secret in (ext, f"{ext}@example.com", USER_AGENT, "testclient"):
            assert secret.encode() not in body


async def test_a_server_error_is_an_error_span_with_no_exception_text(
    traced_app: Callable[[], Any], collector: Collector, auth: Any
) -> None:
    app = traced_app()

    async def broken(*_: Any) -> None:
        raise RuntimeError("database said no for cust-7f3a")

    async with AsyncTestClient(
        app=app, base_url="http://testserver.local", raise_server_exceptions=False
    ) as client:
        # A failure below every handler: the layer under the tracing one raises.
        # LastResort > BodyReadTimeout > RequestLog > Tracing
        tracing = app.asgi_handler.app.app.app
        tracing.app = broken
        failed = await client.get("/v1/purposes", headers=auth("admin"))
        assert failed.status_code == 500
    spans = spans_of(collector.exports)
    (span,) = [span for _, span in spans if attributes(span).get("error.type")]
    assert span.status.code == span.status.STATUS_CODE_ERROR
    assert attributes(span)["error.type"] == "RuntimeError"
    assert not span.events  # no exception event with its message and stack
    for body in collector.exports:
        assert b"cust-7f3a" not in body and b"database said no" not in body


def test_tracing_is_off_unless_an_endpoint_asks_and_refuses_what_it_cannot_export() -> None:
    from shared.settings import tracing_from_env

    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}
    assert tracing_from_env({}) is False
    assert tracing_from_env(endpoint) is True
    assert tracing_from_env({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c/v1/traces"}) is True
    assert tracing_from_env({"OTEL_TRACES_EXPORTER": "otlp"}) is True
    assert tracing_from_env({**endpoint, "OTEL_SDK_DISABLED": "true"}) is False
    assert tracing_from_env({**endpoint, "OTEL_TRACES_EXPORTER": "none"}) is False
    with pytest.raises(ValueError, match="OTEL_TRACES_EXPORTER"):
        tracing_from_env({**endpoint, "OTEL_TRACES_EXPORTER": "zipkin"})
    with pytest.raises(ValueError, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        tracing_from_env({**endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
