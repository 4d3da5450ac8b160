"""Tables both services use: the audit outbox and idempotency records."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = MetaData()

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("service", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("subject", Text),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("data", JSONB, nullable=False),
    # The writing transaction's id, kept for forensics; the chainer orders by commit, not by it.
    Column("txid", Text, nullable=False, server_default=text("pg_current_xact_id()::text")),
    # When the event took its place in the chain (the chainer sets it; until then, the insert).
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    # Assigned once, in commit order, by the chainer; never changed afterwards.
    Column("sequence", BigInteger),
    Column("prev_hash", LargeBinary),
    Column("hash", LargeBinary),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("principal", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("request_hash", LargeBinary, nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
)
