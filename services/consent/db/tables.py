"""SQLAlchemy Core tables of the consent service (the migrations are the schema's source)."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import msgspec
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = MetaData()
RowType = TypeVar("RowType", bound=msgspec.Struct)


def row_reader(
    columns: Iterable[str], row_type: type[RowType]
) -> Callable[[Sequence[Any]], RowType]:
    """Builds ``row_type`` (two fields or more) from rows whose columns are named ``columns``.

    Each field takes the column of its name, found once here, so a query keeps selecting whole
    tables (cheapest for SQLAlchemy to build) and no row becomes a mapping on the way.
    """
    names = list(columns)
    pick = operator.itemgetter(*(names.index(field) for field in row_type.__struct_fields__))
    return lambda row: row_type(*pick(row))


purposes = Table(
    "purposes",
    metadata,
    Column("key", Text, primary_key=True),
    Column("legal_basis", Text, nullable=False),
    Column("channels", ARRAY(Text), nullable=False),
    Column("double_opt_in_channels", ARRAY(Text), nullable=False),
    Column("validity_days", Integer),
    Column("min_age", Integer),
    Column("sale_or_sharing", Boolean, nullable=False),
    Column("current_version", Integer, nullable=False),
    Column("min_accepted_version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Kantara CR v1.1 vocabularies; defaulted for purposes defined before c0006.
    Column("purpose_category", Text, nullable=False, server_default="Marketing"),
    Column("pii_categories", ARRAY(Text), nullable=False, server_default="{Contact}"),
    # Art. 15(1)(c),(d); defaulted for purposes defined before c0007.
    Column("recipients", ARRAY(Text), nullable=False, server_default="{}"),
    Column("retention_days", Integer),
)

purpose_versions = Table(
    "purpose_versions",
    metadata,
    Column("purpose_key", Text, ForeignKey("purposes.key"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("title", JSONB, nullable=False),
    Column("description", JSONB, nullable=False),
    Column("requires_renewal", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

subjects = Table(
    "subjects",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("external_id", Text, nullable=False, unique=True),
    Column("email_ct", LargeBinary),
    Column("phone_ct", LargeBinary),
    Column("name_ct", LargeBinary),
    Column("birth_date_ct", LargeBinary),
    Column("email_index", LargeBinary),
    Column("phone_index", LargeBinary),
    Column("locale", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("erased_at", DateTime(timezone=True)),
    Column("restricted_at", DateTime(timezone=True)),
    Column("objected_at", DateTime(timezone=True)),
    Column("email_suppression", LargeBinary),
    Column("phone_suppression", LargeBinary),
    Column("gpc_at", DateTime(timezone=True)),
)

subject_keys = Table(
    "subject_keys",
    metadata,
    Column("subject_id", UUID(as_uuid=True), ForeignKey("subjects.id"), primary_key=True),
    Column("kek_id", Text, nullable=False),
    Column("wrapped_dek", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("rewrapped_at", DateTime(timezone=True)),
)

consent_events = Table(
    "consent_events",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("subject_id", UUID(as_uuid=True), ForeignKey("subjects.id"), nullable=False),
    Column("purpose_key", Text, nullable=False),
    Column("purpose_version", Integer, nullable=False),
    Column("channel", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("given_by", Text, nullable=False),
    Column("collection_method", Text, nullable=False),
    Column("page", Text),
    Column("ip_hash", LargeBinary),
    Column("ua_hash", LargeBinary),
    Column("reason_ct", LargeBinary),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

consent_state = Table(
    "consent_state",
    metadata,
    Column("subject_id", UUID(as_uuid=True), ForeignKey("subjects.id"), primary_key=True),
    Column("purpose_key", Text, ForeignKey("purposes.key"), primary_key=True),
    Column("channel", Text, primary_key=True),
    Column("state", Text, nullable=False),
    Column("purpose_version", Integer, nullable=False),
    Column("granted_at", DateTime(timezone=True)),
    Column("last_event_id", BigInteger, ForeignKey("consent_events.id"), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

receipts = Table(
    "receipts",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("subject_id", UUID(as_uuid=True), ForeignKey("subjects.id"), nullable=False),
    Column("event_id", UUID(as_uuid=True), nullable=False),
    Column("jws", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

preferences = Table(
    "preferences",
    metadata,
    Column("subject_id", UUID(as_uuid=True), ForeignKey("subjects.id"), primary_key=True),
    Column("doc", JSONB, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

connector_jobs = Table(
    "connector_jobs",
    metadata,
    Column("job", Text, primary_key=True),
    Column("request", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("reason", Text),
    Column("finished_at", DateTime(timezone=True), nullable=False),
)

# Maintained by triggers from subjects, consent_state and preferences (migration c0003); the
# application only reads it.
check_facts = Table(
    "check_facts",
    metadata,
    Column("subject_id", UUID(as_uuid=True), ForeignKey("subjects.id"), primary_key=True),
    Column("external_id", Text, nullable=False),
    Column("erased", Boolean, nullable=False),
    Column("restricted", Boolean, nullable=False),
    Column("objected", Boolean, nullable=False),
    Column("gpc_at", DateTime(timezone=True)),
    Column("consents", JSONB, nullable=False),
    Column("preferences", JSONB),
)
