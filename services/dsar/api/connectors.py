"""``/v1/connectors``: the registry of systems that answer the connector protocol.

Admins register, replace and disable connectors; officers may read the registry. A connector's
secret goes in once and never comes back out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, cast

import msgspec
from litestar import Controller, Response, delete, get, put
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from services.dsar.db.connectors import ConnectorRow
from services.dsar.domain.connectors import NAME_SHAPE
from services.dsar.service.connectors import ConnectorService, ConnectorSpec
from shared.auth.guards import requires
from shared.auth.tokens import Principal
from shared.keys import Keyring

CONNECTOR_NAME = Parameter(
    pattern=f"^{NAME_SHAPE}(?!\\n)$", description="Lower-case name, e.g. crm or shop.orders"
)
Action = Literal[
    "access", "erasure", "rectification", "restriction", "lift_restriction", "objection"
]


class ConnectorWrite(msgspec.Struct, forbid_unknown_fields=True):
    url: Annotated[str, msgspec.Meta(min_length=8, max_length=2000)]
    # Standard Webhooks form: "whsec_" + base64 of at least 24 random bytes.
    secret: Annotated[str, msgspec.Meta(max_length=200)]
    actions: Annotated[list[Action], msgspec.Meta(min_length=1, max_length=6)]
    enabled: bool = True

    def to_spec(self) -> ConnectorSpec:
        return ConnectorSpec(self.url, self.secret, tuple(self.actions), self.enabled)


class Connector(msgspec.Struct, frozen=True):
    """A registered connector (its secret is never shown)."""

    name: str
    url: str
    actions: list[Action]
    enabled: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: ConnectorRow) -> Connector:
        actions = cast(list[Action], list(row.actions))  # the table's CHECK allows no others
        return cls(row.name, row.url, actions, row.enabled, row.created_at, row.updated_at)


class ConnectorController(Controller):
    path = "/v1/connectors"
    tags = ["connectors"]

    @put(
        "/{name:str}",
        guards=[requires("admin")],
        status_code=200,
        responses={201: ResponseSpec(Connector, description="Created")},
        summary="Register a connector, or replace one (secret, URL, actions, enabled)",
    )
    async def put_connector(
        self,
        tx: NamedDependency[AsyncSession],
        keyring: NamedDependency[Keyring],
        principal: NamedDependency[Principal],
        data: JSONBody[ConnectorWrite],
        name: Annotated[str, CONNECTOR_NAME],
    ) -> Response[Connector]:
        saved = await ConnectorService(tx, keyring).put(name, data.to_spec(), principal.actor)
        return Response(Connector.of(saved.connector), status_code=201 if saved.created else 200)

    @get(guards=[requires("admin", "officer")], summary="Every registered connector")
    async def list_connectors(
        self, tx: NamedDependency[AsyncSession], keyring: NamedDependency[Keyring]
    ) -> list[Connector]:
        return [Connector.of(row) for row in await ConnectorService(tx, keyring).list_all()]

    @get(
        "/{name:str}",
        guards=[requires("admin", "officer")],
        opt={"problems": (404,)},
        summary="One connector",
    )
    async def get_connector(
        self,
        tx: NamedDependency[AsyncSession],
        keyring: NamedDependency[Keyring],
        name: Annotated[str, CONNECTOR_NAME],
    ) -> Connector:
        return Connector.of(await ConnectorService(tx, keyring).get(name))

    @delete(
        "/{name:str}",
        guards=[requires("admin")],
        status_code=204,
        opt={"problems": (404,)},
        summary="Disable a connector (it stays listed, as its past jobs name it)",
    )
    async def disable_connector(
        self,
        tx: NamedDependency[AsyncSession],
        keyring: NamedDependency[Keyring],
        principal: NamedDependency[Principal],
        name: Annotated[str, CONNECTOR_NAME],
    ) -> None:
        await ConnectorService(tx, keyring).disable(name, principal.actor)


__all__ = ["Connector", "ConnectorController", "ConnectorWrite"]
