"""Reads behind the share pages (去向可查): department clients, their shares, the persons each share carried.

Two scopes meet here. A client and its shares belong to the client's region (ApiClient.region,
Share.region_code); a person read belongs to their village (SharedPerson.region_code). The client pages scope by
the client's region; a person's shares, and the persons listed on a share, scope by the person's village, so a
county's staff see who read the county's people even when a client above the county read them, and never
another county's people.
"""

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, F, IntegerField, Max, OuterRef, QuerySet, Subquery, Sum, Value, Window
from django.db.models.functions import Coalesce, RowNumber
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from exchange.api.datasets import DATASETS
from exchange.api.models import ApiClient, ApiToken, Share, SharedPerson
from exchange.selectors import department_name
from households.models import Person
from povertycloud.accounts.models import Role
from povertycloud.accounts.permissions import can_reveal_sensitive, role_of
from povertycloud.masking import mask_id_number
from povertycloud.paging import Page, keyset_page
from povertycloud.regions.models import Region
from povertycloud.regions.scoping import get_for_user_or_404, scope_for_user

SHARES_PAGE_SIZE = 50
PERSONS_PAGE_SIZE = 100
LATEST_PER_MEMBER = 5
EXPORT_CHUNK = 2000
# Keys come from the query string: anything that is not a plain id is no key (a database integer is 64 bits).
MAX_ID = 2**63 - 1
ROLES_SEEING_CLIENTS = {Role.COUNTY_STAFF, Role.AUDITOR, Role.ADMIN}


def may_see_clients(user: Any) -> bool:
    """Department clients and their shares are for county staff, auditors and administrators, not townships."""
    return role_of(user) in ROLES_SEEING_CLIENTS




def dataset_label(slug: str) -> str:
    found = DATASETS.get(slug)
    return str(found.label) if found is not None else slug


def field_labels(dataset: str, names: Any) -> str:
    """A share's fields as their labels (证件号码、姓名…); names the dataset does not declare stay as they are."""
    found = DATASETS.get(dataset)
    names = [str(n) for n in names] if isinstance(names, list) else []
    return "、".join(found.label_of(n) if found is not None else n for n in names)


# --- Clients ---------------------------------------------------------------------------------------------


@dataclass
class ClientRow:
    client: ApiClient
    department_name: str
    scope_labels: list[str]
    token_state: str
    usable_tokens: int
    last_used_at: dt.datetime | None
    share_count: int
    persons_shared: int


def scope_label_map() -> dict[str, str]:
    from exchange.api.datasets import all_scopes

    return dict(all_scopes())


def _token_state(usable: int, total: int) -> str:
    if usable:
        return ngettext("%(count)s 个有效令牌", "%(count)s 个有效令牌", usable) % {"count": usable}
    if total:
        return _("令牌均已失效")
    return _("未签发令牌")


def clients_for(user: Any) -> QuerySet[ApiClient]:
    """The clients of the user's region, each with its tokens' state, last use, shares and persons shared.

    Subqueries rather than joins: a client's tokens and its shares counted through one join would multiply."""
    now = timezone.now()
    tokens = ApiToken.objects.filter(client=OuterRef("pk")).order_by().values("client")
    shares = Share.objects.filter(client=OuterRef("pk")).order_by().values("client")
    return (
        scope_for_user(ApiClient.objects.all(), user)
        .select_related("region")
        .annotate(
            token_total=Coalesce(Subquery(tokens.annotate(n=Count("pk")).values("n")), Value(0)),
            token_usable=Coalesce(
                Subquery(
                    tokens.filter(revoked_at__isnull=True, expires_at__gt=now).annotate(n=Count("pk")).values("n")
                ),
                Value(0),
            ),
            last_used=Subquery(tokens.annotate(m=Max("last_used_at")).values("m")),
            share_count=Coalesce(Subquery(shares.annotate(n=Count("pk")).values("n")), Value(0)),
            persons_shared=Coalesce(
                Subquery(shares.annotate(n=Sum("person_count")).values("n"), output_field=IntegerField()), Value(0)
            ),
        )
        .order_by("region_id", "name", "pk")
    )


def client_rows(user: Any, *, pks: list[int] | None = None) -> list[ClientRow]:
    labels = scope_label_map()
    clients = clients_for(user)
    if pks is not None:
        clients = clients.filter(pk__in=pks)
    return [
        ClientRow(
            client=client,
            department_name=department_name(client.department),
            scope_labels=[labels.get(s, s) for s in client.scopes or []],
            token_state=_token_state(client.token_usable, client.token_total),
            usable_tokens=client.token_usable,
            last_used_at=client.last_used,
            share_count=client.share_count,
            persons_shared=client.persons_shared,
        )
        for client in clients
    ]


def client_summary(user: Any, pk: int) -> ClientRow:
    """One client of the user's region with its figures; another region's (or none) is 404."""
    if not 0 < pk <= MAX_ID:
        raise Http404
    found = client_rows(user, pks=[pk])
    if not found:
        raise Http404
    return found[0]


# --- Shares ----------------------------------------------------------------------------------------------


def parse_time_key(key: str | None) -> tuple[dt.datetime, int] | None:
    """A page key "<ISO time>~<id>"; anything else (a mangled link) is no key: the first page."""
    if not key or "~" not in key or len(key) > 80:
        return None
    stamp, _sep, pk = key.rpartition("~")
    try:
        at, number = dt.datetime.fromisoformat(stamp), int(pk)
    except ValueError:
        return None
    if not 0 < number <= MAX_ID:
        return None
    if timezone.is_naive(at):
        at = timezone.make_aware(at, dt.UTC)
    return at, number


def _time_key(share: Share) -> str:
    return f"{share.at.isoformat()}~{share.pk}"


@dataclass
class ShareRow:
    share: Share
    dataset_label: str
    field_labels: str
    client_visible: bool = True


def _share_rows(shares: list[Share], visible_clients: set[int] | None = None) -> list[ShareRow]:
    return [
        ShareRow(
            share=share,
            dataset_label=dataset_label(share.dataset),
            field_labels=field_labels(share.dataset, share.fields),
            client_visible=visible_clients is None or share.client_id in visible_clients,
        )
        for share in shares
    ]


def client_shares(user: Any, client: ApiClient) -> QuerySet[Share]:
    """A client's shares, if the user's region holds the client (scoped by the client's region)."""
    return scope_for_user(Share.objects.filter(client=client), user)


def shares_page(user: Any, client: ApiClient, *, after: str | None, before: str | None) -> Page:
    """A client's shares, newest first, a page at a time by (at, id): the (client, -at) index seeks each page."""
    page = keyset_page(
        client_shares(user, client),
        columns=("at", "id"),
        descending=True,
        parse=parse_time_key,
        key_of=_time_key,
        after=after,
        before=before,
        size=SHARES_PAGE_SIZE,
    )
    page.rows = _share_rows(page.rows)
    return page


def _visible_client_ids(user: Any, client_ids: set[int]) -> set[int]:
    return set(scope_for_user(ApiClient.objects.filter(pk__in=client_ids), user).values_list("pk", flat=True))


def person_shares(user: Any, person_id: int) -> QuerySet[Share]:
    """The shares that carried a person's record, through the person's village as recorded when shared (not the
    client's region: a township official's region holds its people even when a county client read them)."""
    carried = scope_for_user(SharedPerson.objects.filter(person_id=person_id), user).values("share_id")
    return Share.objects.filter(pk__in=carried)


def person_shares_page(user: Any, person_id: int, *, after: str | None, before: str | None) -> Page:
    page = keyset_page(
        person_shares(user, person_id).select_related("client"),
        columns=("at", "id"),
        descending=True,
        parse=parse_time_key,
        key_of=_time_key,
        after=after,
        before=before,
        size=SHARES_PAGE_SIZE,
    )
    page.rows = _share_rows(page.rows, _visible_client_ids(user, {s.client_id for s in page.rows}))
    return page


def person_for(user: Any, pk: int) -> Person:
    """A person of the user's region, present or gone (a member who left was still read while present)."""
    return get_for_user_or_404(Person.everyone.select_related("household__village"), user, pk=pk)


def share_for(user: Any, pk: int) -> Share:
    """A share of a client of the user's region, or one that carried a person of the user's region."""
    if not 0 < pk <= MAX_ID:
        raise Http404
    shares = Share.objects.select_related("client", "client__region", "token")
    found = scope_for_user(shares, user).filter(pk=pk).first()
    if found is None and scope_for_user(SharedPerson.objects.filter(share_id=pk), user).exists():
        found = shares.filter(pk=pk).first()
    if found is None:
        raise Http404
    return found


def share_detail(user: Any, share: Share) -> ShareRow:
    return _share_rows([share], _visible_client_ids(user, {share.client_id}))[0]


# --- Persons read ----------------------------------------------------------------------------------------


@dataclass
class PersonRead:
    person_id: int
    household_id: int
    name: str
    id_number: str  # masked unless the role may reveal and asked to
    village: str
    person_visible: bool


def _masker(user: Any, full_ids: bool):
    reveal = full_ids and can_reveal_sensitive(user)
    return (lambda value: value or "") if reveal else mask_id_number


def _village_names(codes: set[str]) -> dict[str, str]:
    return dict(Region.objects.filter(code__in=codes).values_list("code", "name"))


def _people(ids: set[int]) -> dict[int, tuple[str, str]]:
    return {pk: (name, number) for pk, name, number in Person.everyone.filter(pk__in=ids).values_list(
        "pk", "name", "id_number"
    )}


def persons_page(user: Any, share: Share, *, after: str | None, before: str | None) -> Page:
    """The persons a share carried that the user's region holds, by person id, names and masked IDs."""
    queryset = scope_for_user(SharedPerson.objects.filter(share=share), user)
    page = keyset_page(
        queryset,
        columns=("share_id", "person_id"),
        descending=False,
        parse=lambda key: _parse_person_key(share.pk, key),
        key_of=lambda row: str(row.person_id),
        after=after,
        before=before,
        size=PERSONS_PAGE_SIZE,
    )
    page.rows = persons_read(user, page.rows)
    return page


def _parse_person_key(share_id: int, key: str | None) -> tuple[int, int] | None:
    if not key or not key.isdigit() or len(key) > 19:
        return None
    number = int(key)
    return (share_id, number) if number <= MAX_ID else None


def persons_read(user: Any, rows: list[SharedPerson], *, full_ids: bool = False) -> list[PersonRead]:
    people = _people({r.person_id for r in rows})
    villages = _village_names({r.region_code for r in rows})
    visible = set(
        scope_for_user(Person.everyone.filter(pk__in=list(people)), user).values_list("pk", flat=True)
    )
    mask = _masker(user, full_ids)
    read = []
    for row in rows:
        name, number = people.get(row.person_id, ("", ""))
        read.append(
            PersonRead(
                person_id=row.person_id,
                household_id=row.household_id,
                name=name or _("（已删除）"),
                id_number=mask(number),
                village=villages.get(row.region_code, row.region_code),
                person_visible=row.person_id in visible,
            )
        )
    return read


# --- The household page's section ------------------------------------------------------------------------


@dataclass
class MemberShares:
    person: Person
    shares: list[ShareRow] = field(default_factory=list)


def member_shares(members: list[Person], user: Any) -> dict[str, Any]:
    """The latest shares of each member the user may see: LATEST_PER_MEMBER each, the newest first.

    Two queries whatever the number of members: the shared-person rows ranked per member (a window), then which
    of their clients the user's region holds."""
    if not may_see_clients(user) or not members:
        return {"shown": False}
    ranked = (
        scope_for_user(SharedPerson.objects.filter(person_id__in=[p.pk for p in members]), user)
        .annotate(
            rank=Window(
                RowNumber(), partition_by=[F("person_id")], order_by=[F("share__at").desc(), F("share_id").desc()]
            )
        )
        .filter(rank__lte=LATEST_PER_MEMBER)
        .select_related("share__client")
        .order_by("person_id", "rank")
    )
    latest: dict[int, list[Share]] = {}
    for row in ranked:
        latest.setdefault(row.person_id, []).append(row.share)
    visible = _visible_client_ids(user, {s.client_id for found in latest.values() for s in found})
    rows = [
        MemberShares(person=person, shares=_share_rows(latest[person.pk], visible))
        for person in members
        if latest.get(person.pk)
    ]
    return {"shown": True, "member_shares": rows}


# --- The export ------------------------------------------------------------------------------------------


def export_rows(
    user: Any, client: ApiClient, *, start: dt.datetime, end: dt.datetime, full_ids: bool
) -> Iterator[list[Any]]:
    """One row per person per share of the client in [start, end): time, client, endpoint, dataset, purpose,
    fields, name, ID (masked unless revealed), village. Read as tuples, chunk by chunk: memory holds one chunk."""
    shared = scope_for_user(
        SharedPerson.objects.filter(share__client=client, share__at__gte=start, share__at__lt=end), user
    ).order_by("share__at", "share_id", "person_id")
    columns = ("share__at", "share__endpoint", "share__dataset", "share__purpose", "share__fields", "person_id",
               "region_code")
    mask = _masker(user, full_ids)
    labels: dict[tuple[str, str], str] = {}
    chunk: list[tuple] = []

    def flush(chunk: list[tuple]) -> Iterator[list[Any]]:
        people = _people({row[5] for row in chunk})
        villages = _village_names({row[6] for row in chunk})
        for at, endpoint, dataset, purpose, names, person_id, village in chunk:
            key = (dataset, repr(names))
            if key not in labels:
                labels[key] = field_labels(dataset, names)
            name, number = people.get(person_id, ("", ""))
            yield [
                timezone.localtime(at).strftime("%Y-%m-%d %H:%M:%S"),
                client.name,
                endpoint,
                dataset_label(dataset),
                purpose,
                labels[key],
                name,
                mask(number),
                villages.get(village, village),
            ]

    for row in shared.values_list(*columns).iterator(chunk_size=EXPORT_CHUNK):
        chunk.append(row)
        if len(chunk) >= EXPORT_CHUNK:
            yield from flush(chunk)
            chunk = []
    if chunk:
        yield from flush(chunk)
