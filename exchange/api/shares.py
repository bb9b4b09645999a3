"""Shares (去向可查): the record of every answer a department pulled (the pages that read it: share_selectors).

record_share() writes one Share per answered page, with one SharedPerson row per person whose record left in
it. The pull view calls it inside the transaction that builds the answer, so an answer and its record stand or
fall together: no page leaves the system unrecorded.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from exchange.api.datasets import DATASETS
from exchange.api.models import ApiClient, ApiToken, Share, SharedPerson


@dataclass(frozen=True)
class SharedRecord:
    """One person whose record an answer carries: who, of which household, in which village."""

    person_id: int
    household_id: int
    village_code: str


def purpose_of(*, client: ApiClient, dataset: str, asked: str = "") -> str:
    """What a share is for: the caller's stated purpose, else the client's, else the dataset's declared one."""
    return (asked or "").strip() or client.purpose or str(DATASETS[dataset].purpose)


def record_share(
    *,
    client: ApiClient,
    token: ApiToken | None,
    endpoint: str,
    dataset: str,
    purpose: str,
    fields: list[str],
    parameters: Mapping[str, Any],
    persons: Iterable[SharedRecord],
) -> Share:
    """Record that ``client`` read ``fields`` of ``persons`` from ``dataset`` through ``endpoint``.

    ``purpose`` is the caller's (may be blank: the client's or the dataset's purpose is recorded instead). A
    page with no persons is still recorded (person_count 0): that the client asked is part of the record."""
    persons = list({p.person_id: p for p in persons}.values())
    # Inside the caller's transaction when there is one (the pull view's), without a savepoint of its own: the
    # share and its persons stand or fall with the answer.
    with transaction.atomic(savepoint=False):
        share = Share.objects.create(
            client=client,
            token=token,
            endpoint=endpoint[:200],
            dataset=dataset,
            purpose=purpose_of(client=client, dataset=dataset, asked=purpose)[:200],
            fields=list(fields),
            parameters=dict(parameters),
            person_count=len(persons),
            region_code=client.region_id,
        )
        SharedPerson.objects.bulk_create(
            [
                SharedPerson(
                    share=share, person_id=p.person_id, household_id=p.household_id, region_code=p.village_code
                )
                for p in persons
            ],
        )
    return share
