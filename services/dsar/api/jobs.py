"""Connector jobs over HTTP: the connectors' signed callbacks, and the officer's retry/skip."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.openapi.spec import OpenAPIMediaType, RequestBody, Schema
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from services.dsar.api.deps import dsar_settings
from services.dsar.db.jobs import Job
from services.dsar.service import jobs as job_service
from services.dsar.service.job_runs import accept_callback
from shared.auth.guards import requires
from shared.keys import Keyring

ConnectorName = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=2000, pattern=r"\S")]


class JobView(msgspec.Struct, frozen=True):
    job: uuid.UUID
    request: uuid.UUID
    connector: str
    action: str
    status: str
    attempts: int
    last_error: str | None

    @classmethod
    def of(cls, job: Job) -> JobView:
        return cls(
            job.id,
            job.request_id,
            job.connector,
            job.action,
            job.status,
            job.attempts,
            job.last_error,
        )


class SkipJob(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason


class RetryJobs(msgspec.Struct, forbid_unknown_fields=True):
    connector: ConnectorName | None = None
    requests: Annotated[list[uuid.UUID], msgspec.Meta(max_length=1000)] | None = None


class Retried(msgspec.Struct, frozen=True):
    retried: int


_ANSWER = Schema(
    type="object",  # type: ignore[arg-type]
    required=["status"],
    properties={
        "status": Schema(type="string", enum=["done", "not_found", "exempt"]),  # type: ignore[arg-type]
        "data": Schema(type="object"),  # type: ignore[arg-type]
        "reason": Schema(type="string"),  # type: ignore[arg-type]
    },
)
CALLBACK_BODY = RequestBody(
    required=True,
    description="The connector's final answer, signed as Standard Webhooks with its secret",
    content={"application/json": OpenAPIMediaType(schema=_ANSWER)},
)


class JobCallbackController(Controller):
    path = "/v1/jobs"
    tags = ["jobs"]

    @post(
        "/{job_id:uuid}/callback",
        status_code=200,
        opt={
            "public": True,
            "problems": (400, 401, 404, 409, 413, 422),
            "request_body": CALLBACK_BODY,
        },
        request_max_body_size=1024 * 1024,
        summary="A connector's answer to a job it accepted with 202 (signed)",
    )
    async def job_callback(
        self,
        tx: NamedDependency[AsyncSession],
        keyring: NamedDependency[Keyring],
        request: Request[Any, Any, Any],
        job_id: FromPath[uuid.UUID],
    ) -> JobView:
        body = await request.body()
        headers = {key.lower(): value for key, value in request.headers.items()}
        public_url = dsar_settings(request).public_url
        return JobView.of(await accept_callback(tx, keyring, job_id, headers, body, public_url))


class JobOfficerController(Controller):
    tags = ["jobs"]
    guards = [requires("officer", "admin")]

    @post(
        "/v1/requests/{request_id:uuid}/connectors/{name:str}/retry",
        status_code=200,
        opt={"problems": (404, 409)},
        summary="Run a failed connector job of a request again now",
    )
    async def retry_connector_job(
        self,
        tx: NamedDependency[AsyncSession],
        request_id: FromPath[uuid.UUID],
        name: FromPath[str],
    ) -> list[JobView]:
        return [JobView.of(job) for job in await job_service.retry_job(tx, request_id, name)]

    @post(
        "/v1/requests/{request_id:uuid}/connectors/{name:str}/skip",
        status_code=200,
        opt={"problems": (404, 409)},
        summary="Give up on one connector for a request, with the reason",
    )
    async def skip_connector_job(
        self,
        tx: NamedDependency[AsyncSession],
        keyring: NamedDependency[Keyring],
        request_id: FromPath[uuid.UUID],
        name: FromPath[str],
        data: JSONBody[SkipJob],
        request: Request[Any, Any, Any],
    ) -> list[JobView]:
        public_url = dsar_settings(request).public_url
        jobs = await job_service.skip_job(tx, keyring, request_id, name, data.reason, public_url)
        return [JobView.of(job) for job in jobs]

    @post(
        "/v1/jobs/retry", status_code=200, summary="Retry failed jobs by connector and/or requests"
    )
    async def retry_failed_jobs(
        self, tx: NamedDependency[AsyncSession], data: JSONBody[RetryJobs]
    ) -> Retried:
        return Retried(await job_service.retry_failed(tx, data.connector, data.requests))
