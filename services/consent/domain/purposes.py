"""Purposes and their versions: what changes a version, and what must be renewed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import msgspec

from services.consent.domain.vocabulary import DEFAULT_PII_CATEGORIES, DEFAULT_PURPOSE_CATEGORY
from shared.errors import InvalidInput


class Purpose(msgspec.Struct, frozen=True):
    """A purpose in the catalogue at its current version, with that version's text."""

    key: str
    legal_basis: str
    title: dict[str, str]
    description: dict[str, str]
    channels: list[str]
    double_opt_in_channels: list[str]
    validity_days: int | None
    min_age: int | None
    sale_or_sharing: bool
    # The API has always called the current version just ``version``.
    current_version: int = msgspec.field(name="version")
    min_accepted_version: int
    created_at: datetime
    updated_at: datetime
    # Kantara CR v1.1 vocabularies (``vocabulary.PurposeCategory`` / ``PiiCategory``), printed
    # on every receipt of this purpose.
    purpose_category: str = DEFAULT_PURPOSE_CATEGORY
    pii_categories: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_PII_CATEGORIES))
    # Art. 15(1)(c),(d): who receives the data, and for how long it is kept (None: not stated).
    recipients: list[str] = msgspec.field(default_factory=list)
    retention_days: int | None = None


class PurposeVersion(msgspec.Struct, frozen=True):
    """One immutable version of a purpose's text."""

    version: int
    title: dict[str, str]
    description: dict[str, str]
    requires_renewal: bool
    created_at: datetime


@dataclass(frozen=True)
class PurposeSpec:
    """What an admin asks a purpose to be."""

    legal_basis: str
    title: dict[str, str]
    description: dict[str, str]
    channels: tuple[str, ...]
    double_opt_in_channels: tuple[str, ...]
    validity_days: int | None
    min_age: int | None
    sale_or_sharing: bool
    require_renewal: bool
    purpose_category: str = DEFAULT_PURPOSE_CATEGORY
    pii_categories: tuple[str, ...] = DEFAULT_PII_CATEGORIES
    recipients: tuple[str, ...] = ()
    retention_days: int | None = None

    def validate(self) -> None:
        if not self.channels:
            raise InvalidInput("A purpose needs at least one channel.", field="channels")
        if len(set(self.channels)) != len(self.channels):
            raise InvalidInput("Channels must not repeat.", field="channels")
        if not set(self.double_opt_in_channels) <= set(self.channels):
            raise InvalidInput(
                "Double opt-in channels must be among the purpose's channels.",
                field="double_opt_in_channels",
            )
        if len(set(self.pii_categories)) != len(self.pii_categories):
            raise InvalidInput("PII categories must not repeat.", field="pii_categories")
        if len(set(self.recipients)) != len(self.recipients):
            raise InvalidInput("Recipients must not repeat.", field="recipients")
        if not any(v.strip() for v in self.title.values()):
            raise InvalidInput(
                "A purpose needs a title in at least one of fi, sv, en.", field="title"
            )
        if self.legal_basis != "consent" and self.double_opt_in_channels:
            raise InvalidInput(
                "Double opt-in applies only to purposes based on consent.",
                field="double_opt_in_channels",
            )


@dataclass(frozen=True)
class PurposeChange:
    """How a stored purpose moves to a new spec."""

    new_version: bool
    attributes_changed: bool
    min_accepted_version: int

    @property
    def changed(self) -> bool:
        return self.new_version or self.attributes_changed


def plan_change(current: Purpose, spec: PurposeSpec) -> PurposeChange:
    """A changed title or description makes a new immutable version; the rest updates in place."""
    new_version = current.title != spec.title or current.description != spec.description
    attributes_changed = (
        current.legal_basis != spec.legal_basis
        or tuple(current.channels) != spec.channels
        or tuple(current.double_opt_in_channels) != spec.double_opt_in_channels
        or current.validity_days != spec.validity_days
        or current.min_age != spec.min_age
        or current.sale_or_sharing != spec.sale_or_sharing
        or current.purpose_category != spec.purpose_category
        or tuple(current.pii_categories) != spec.pii_categories
        or tuple(current.recipients) != spec.recipients
        or current.retention_days != spec.retention_days
    )
    min_accepted = current.min_accepted_version
    if new_version and spec.require_renewal:
        min_accepted = current.current_version + 1
    return PurposeChange(new_version, attributes_changed, min_accepted)
