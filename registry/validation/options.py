"""What a validation run is configured with: the transaction, the profile and its switches."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Transaction(StrEnum):
    """The transactions whose registry half is validated; each has its optionality column."""

    PROVIDE_AND_REGISTER = "ITI-41"
    REGISTER = "ITI-42"
    PROVIDE_DOCUMENT_BUNDLE = "ITI-65"


class Profile(StrEnum):
    """The rule set: IHE alone, or IHE with the Norwegian national rules on top."""

    IHE = "ihe"
    NORWAY = "norway"


class ValidationSettings(Protocol):
    """The settings validation reads (gateway.config.Settings has them)."""

    profile: str
    accept_synthetic_ids: bool
    patient_id_domains: list[str]


@dataclass(frozen=True)
class ValidationOptions:
    """How to validate one submission.

    `patient_id_domains` are the assigning-authority OIDs whose patients this registry knows;
    empty means any. `accept_synthetic_ids` lets the Norwegian profile take synthetic test
    identities (month + 40 or + 80).
    """

    transaction: Transaction = Transaction.REGISTER
    profile: Profile = Profile.IHE
    accept_synthetic_ids: bool = False
    patient_id_domains: tuple[str, ...] = ()

    @classmethod
    def from_settings(
        cls, settings: ValidationSettings, transaction: Transaction
    ) -> ValidationOptions:
        """The options a configured instance validates `transaction` with."""
        return cls(
            transaction=transaction,
            profile=Profile(settings.profile),
            accept_synthetic_ids=settings.accept_synthetic_ids,
            patient_id_domains=_oids(settings.patient_id_domains),
        )


def _oids(values: Iterable[str]) -> tuple[str, ...]:
    stripped = (v.strip() for v in values)
    return tuple(v[len("urn:oid:") :] if v.lower().startswith("urn:oid:") else v for v in stripped)
