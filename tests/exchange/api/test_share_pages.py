"""The share pages (去向可查): clients of the region, a client's shares, a share's persons, a person's shares, the
household page's section, and the export of a client's shares; each page's permission and region scope."""

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from exchange.api import share_selectors
from exchange.api.models import Share, SharedPerson
from exchange.api.services import create_client, issue_token, revoke_token
from povertycloud.accounts.models import Role, User
from povertycloud.audit.models import AuditEvent
from povertycloud.regions.models import Region
from tests.conftest import PASSWORD
from tests.download_helpers import export_file
from tests.exchange.conftest import OTHER_COUNTY, OTHER_VILLAGE
from tests.factories import COUNTY, VILLAGE_A, VILLAGE_B, make_household, make_person, resident_id

pytestmark = pytest.mark.django_db

PREMIUM_FIELDS = ["id_number", "name", "premium_category"]


def make_share(client, token, *, at, persons, dataset="health_premium", purpose="落实城乡居民医保参保资助"):
    share = Share.objects.create(
        client=client,
        token=token,
        at=at,
        endpoint=f"/api/v1/pull/{dataset}/",
        dataset=dataset,
        purpose=purpose,
        fields=PREMIUM_FIELDS,
        parameters={"page": 1},
        person_count=len(persons),
        region_code=client.region_id,
    )
    SharedPerson.objects.bulk_create(
        SharedPerson(share=share, person_id=p.pk, household_id=p.household_id, region_code=p.household.village_id)
        for p in persons
    )
    return share


class Shared:
    """Two clients of the county (one with a revoked token) and one of another county, with their shares."""


@pytest.fixture
def shared(admin_user, other_county):
    data = Shared()
    county = Region.objects.get(code=COUNTY)
    data.client = create_client(
        name="县医保局", department="health", region=county, by=admin_user,
        scopes=["push:health", "pull:health_premium"], purpose="医保参保资助",
    )
    data.token = issue_token(client=data.client, by=admin_user, days=30).token
    data.idle = create_client(name="县教育局", department="education", region=county, by=admin_user,
                              scopes=["pull:education_pupils"])
    revoke_token(token=issue_token(client=data.idle, by=admin_user).token, by=admin_user)
    data.other = create_client(
        name="他县医保局", department="health", region=Region.objects.get(code=OTHER_COUNTY), by=admin_user,
        scopes=["pull:health_premium"],
    )
    other_token = issue_token(client=data.other, by=admin_user).token

    data.home = make_household(number="522634101200000101", village_id=VILLAGE_A, with_head=False)
    data.head = make_person(data.home, name="王建国", id_number=resident_id(dt.date(1975, 3, 8), sequence=12))
    # A name a spreadsheet would run as a formula: the export neutralises it.
    data.wife = make_person(data.home, name="=HYPERLINK(1)", relation="02",
                            id_number=resident_id(dt.date(1978, 11, 2), sex="2", sequence=14))
    data.township_b = make_household(number="522634103200000301", village_id=VILLAGE_B, with_head=False)
    data.neighbour = make_person(
        data.township_b, name="李秀英", id_number=resident_id(dt.date(1971, 6, 9), sequence=16)
    )
    data.far = make_household(number="522601001200000401", village_id=OTHER_VILLAGE, with_head=False)
    data.stranger = make_person(data.far, name="外县人", id_number=resident_id(dt.date(1960, 1, 1), region="522601"))

    now = timezone.now()
    data.old = make_share(data.client, data.token, at=now - dt.timedelta(days=3), persons=[data.head])
    # Today's share, an hour ago unless that was before local midnight (the export by period counts on it being today).
    today = timezone.make_aware(dt.datetime.combine(timezone.localdate(), dt.time.min))
    data.new = make_share(data.client, data.token, at=max(now - dt.timedelta(hours=1), today),
                          persons=[data.head, data.wife, data.neighbour])
    data.far_share = make_share(data.other, other_token, at=now - dt.timedelta(hours=2), persons=[data.stranger])
    return data


def make_user(username: str, role: str, region: str, **extra) -> User:
    user = User(username=username, role=role, region_id=region, first_name=username, **extra)
    user.set_password(PASSWORD)
    user.save()
    return user


@pytest.fixture
def other_auditor(other_county) -> User:
    return make_user("other_auditor", Role.AUDITOR, OTHER_COUNTY)


@pytest.fixture
def trusted_auditor(regions) -> User:
    return make_user("trusted_auditor", Role.AUDITOR, COUNTY, sensitive_data_access=True)


def page(client, user, url: str, status: int = 200) -> str:
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == status, response.content[:300]
    return response.content.decode()


def rows_of(html: str, testid: str) -> list[str]:
    return [part.split("</tr>")[0] for part in html.split(f'data-testid="{testid}"')[1:]]


# --- The pages -------------------------------------------------------------------------------------------


def test_the_client_list_shows_the_regions_clients_with_their_figures(client, auditor, shared):
    html = page(client, auditor, reverse("exchange:api_clients"))
    rows = rows_of(html, "client-row")
    assert len(rows) == 2 and "他县医保局" not in html
    health = next(r for r in rows if "县医保局" in r and "教育" not in r)
    assert "医保/卫健" in health and "雷山县" in health
    assert "读取：享受城乡居民医保参保资助的人员" in health and "报送医保/卫健数据" in health
    assert "1 个有效令牌" in health
    assert 'data-testid="share-count">2<' in health
    assert 'data-testid="persons-shared">4<' in health  # 1 + 3 persons read
    idle = next(r for r in rows if "县教育局" in r)
    assert "令牌均已失效" in idle and 'data-testid="share-count">0<' in idle


def test_the_client_page_lists_its_shares_newest_first(client, auditor, shared):
    html = page(client, auditor, reverse("exchange:api_client", args=[shared.client.pk]))
    rows = rows_of(html, "share-row")
    assert [f'data-share-id="{s.pk}"' in r for r, s in zip(rows, (shared.new, shared.old), strict=True)] == [True] * 2
    first = rows[0]
    assert "/api/v1/pull/health_premium/" in first and "享受城乡居民医保参保资助的人员" in first
    assert "落实城乡居民医保参保资助" in first and "证件号码、姓名、资助类别" in first
    assert first.rstrip().endswith('class="num">3</td>')
    assert 'data-testid="export-form"' in html and "full_ids" not in html  # no sensitive access: no full IDs


def test_the_client_page_pages_by_key(client, auditor, shared, monkeypatch):
    monkeypatch.setattr(share_selectors, "SHARES_PAGE_SIZE", 1)
    url = reverse("exchange:api_client", args=[shared.client.pk])
    html = page(client, auditor, url)
    assert len(rows_of(html, "share-row")) == 1 and f'data-share-id="{shared.new.pk}"' in html
    key = html.split("after=")[1].split('"')[0]  # as the pager's link has it (URL-encoded)
    second = page(client, auditor, f"{url}?after={key}")
    assert f'data-share-id="{shared.old.pk}"' in second and f'data-share-id="{shared.new.pk}"' not in second
    # A mangled key is the first page, never an error.
    for junk in ("x~y", "9999-99-99~1", f"{timezone.now().isoformat()}~{2**70}", "\x00", "~"):
        assert f'data-share-id="{shared.new.pk}"' in page(client, auditor, f"{url}?after={junk}&before={junk}")


def test_the_share_page_lists_the_persons_read_masked(client, auditor, shared):
    html = page(client, auditor, reverse("exchange:api_share", args=[shared.new.pk]))
    assert "县医保局" in html and "证件号码、姓名、资助类别" in html and "落实城乡居民医保参保资助" in html
    rows = rows_of(html, "person-row")
    assert len(rows) == 3
    assert "王建国" in html and "李秀英" in html and "西江村" in html and "郎德上寨" in html
    assert shared.head.id_number not in html and shared.head.id_number[:10] + "********" in html


def test_a_person_s_page_lists_their_shares_and_the_household_page_the_members(client, auditor, shared):
    html = page(client, auditor, reverse("exchange:api_person_shares", args=[shared.head.pk]))
    assert "王建国 的数据共享记录" in html
    assert len(rows_of(html, "share-row")) == 2 and "县医保局" in html
    household = page(client, auditor, reverse("households:detail", args=[shared.home.pk]))
    section = household.split('data-testid="api-shares"')[1].split("</section>")[0]
    assert len(rows_of(section, "api-share")) == 3  # the head twice, the wife once
    assert "落实城乡居民医保参保资助" in section and "享受城乡居民医保参保资助的人员" in section
    assert reverse("exchange:api_person_shares", args=[shared.wife.pk]) in section


def test_township_officials_see_no_share_section_on_the_household_page(client, official_a, shared):
    html = page(client, official_a, reverse("households:detail", args=[shared.home.pk]))
    assert 'data-testid="api-shares"' not in html and 'data-testid="department-records"' in html


# --- Permissions and scope ---------------------------------------------------------------------------------


def urls_of(shared) -> list[str]:
    return [
        reverse("exchange:api_clients"),
        reverse("exchange:api_client", args=[shared.client.pk]),
        reverse("exchange:api_share", args=[shared.new.pk]),
        reverse("exchange:api_person_shares", args=[shared.head.pk]),
    ]


@pytest.mark.parametrize("role", ["county_staff", "auditor", "admin_user"])
def test_county_staff_auditors_and_administrators_open_every_page(client, shared, role, request):
    user = request.getfixturevalue(role)
    for url in urls_of(shared):
        page(client, user, url)


def test_a_township_official_is_refused_every_page(client, official_a, shared):
    client.force_login(official_a)
    for url in urls_of(shared):
        assert client.get(url).status_code == 403
    assert client.post(reverse("exchange:api_export", args=[shared.client.pk]), {}).status_code == 403


def test_anonymous_users_are_sent_to_log_in(client, shared):
    for url in [*urls_of(shared), reverse("exchange:api_export", args=[shared.client.pk])]:
        response = client.get(url) if "export" not in url else client.post(url, {})
        assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.parametrize("role", ["other_county_staff", "other_auditor"])
def test_another_county_sees_none_of_this_county_s_clients(client, shared, role, request):
    user = request.getfixturevalue(role)
    client.force_login(user)
    html = page(client, user, reverse("exchange:api_clients"))
    assert "他县医保局" in html and "县医保局</a>" not in html.replace("他县医保局</a>", "")
    for url in urls_of(shared)[1:]:
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("exchange:api_export", args=[shared.client.pk]), {}).status_code == 404
    # Their own county's share lists their own person only.
    assert "外县人" in page(client, user, reverse("exchange:api_share", args=[shared.far_share.pk]))


def test_this_county_gets_404_for_the_other_county(client, auditor, shared):
    client.force_login(auditor)
    for url in (
        reverse("exchange:api_client", args=[shared.other.pk]),
        reverse("exchange:api_share", args=[shared.far_share.pk]),
        reverse("exchange:api_person_shares", args=[shared.stranger.pk]),
        reverse("exchange:api_client", args=[2**70]),
        reverse("exchange:api_share", args=[2**70]),
        reverse("exchange:api_person_shares", args=[2**70]),
    ):
        assert client.get(url).status_code == 404, url


# --- The export ------------------------------------------------------------------------------------------


def export_url(shared) -> str:
    return reverse("exchange:api_export", args=[shared.client.pk])


def period(**extra) -> dict:
    today = timezone.localdate()
    return {"start": (today - dt.timedelta(days=7)).isoformat(), "end": today.isoformat(), **extra}


def csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_the_csv_export_has_a_row_per_person_read_masked_for_an_auditor(client, auditor, shared):
    client.force_login(auditor)
    # Asking for full IDs without sensitive access still masks them.
    rows = csv_rows(export_file(client, export_url(shared), period(file_format="csv", full_ids="on")))
    assert rows[0] == ["时间", "客户端", "接口", "数据集", "用途", "字段", "姓名", "证件号码", "所在村"]
    body = rows[1:]
    assert len(body) == 4  # the old share's head, then the new share's three persons
    assert [r[6] for r in body] == ["王建国", "王建国", "'=HYPERLINK(1)", "李秀英"]
    assert all(r[7].endswith("********") for r in body)
    assert body[0][1:6] == ["县医保局", "/api/v1/pull/health_premium/", "享受城乡居民医保参保资助的人员",
                            "落实城乡居民医保参保资助", "证件号码、姓名、资助类别"]
    assert body[0][8] == "西江村" and body[3][8] == "郎德上寨"
    assert "外县人" not in {r[6] for r in body}
    event = AuditEvent.objects.filter(action="export", entity="exchange.share").get()
    assert event.actor == auditor and event.region_code == COUNTY
    assert event.changes["rows"] == 4 and event.changes["full_ids"] is False and event.changes["format"] == "csv"


def test_the_xlsx_export_gives_full_ids_to_those_who_may_reveal_them(client, trusted_auditor, shared):
    client.force_login(trusted_auditor)
    content = export_file(client, export_url(shared), period(file_format="xlsx", full_ids="on"))
    sheet = load_workbook(io.BytesIO(content), read_only=True).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert len(rows) == 5
    assert {r[7] for r in rows[1:]} == {shared.head.id_number, shared.wife.id_number, shared.neighbour.id_number}
    assert AuditEvent.objects.get(action="export", entity="exchange.share").changes["full_ids"] is True


def test_the_export_covers_the_period_only(client, county_staff, shared):
    client.force_login(county_staff)
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    content = export_file(client, export_url(shared), {"start": "2020-01-01", "end": yesterday.isoformat(),
                                                       "file_format": "csv"})
    body = csv_rows(content)[1:]
    assert [r[6] for r in body] == ["王建国"] and body[0][7] == shared.head.id_number[:10] + "********"


def test_a_bad_period_is_refused_on_the_page(client, auditor, shared):
    client.force_login(auditor)
    for data in ({"start": "2025-02-01", "end": "2025-01-01"}, {"start": "x", "end": ""},
                 {"start": "1900-01-01", "end": "2025-01-01"}, {}):
        response = client.post(export_url(shared), data)
        assert response.status_code == 400 and 'data-testid="export-form"' in response.content.decode()
    assert not AuditEvent.objects.filter(action="export").exists()



def test_the_household_section_shows_the_latest_shares_in_bounded_queries(client, auditor, shared):
    now = timezone.now()
    for hours in range(10, 16):
        make_share(shared.client, shared.token, at=now - dt.timedelta(hours=hours), persons=[shared.wife])
    client.force_login(auditor)
    url = reverse("households:detail", args=[shared.home.pk])
    client.get(url)  # warm the data dictionary cache
    with CaptureQueriesContext(connection) as with_section:
        html = client.get(url).content.decode()
    section = html.split('data-testid="api-shares"')[1].split("</section>")[0]
    wife_rows = [r for r in rows_of(section, "api-share") if f'data-person-id="{shared.wife.pk}"' in r]
    assert len(wife_rows) == share_selectors.LATEST_PER_MEMBER
    assert f'data-share-id="{shared.new.pk}"' in wife_rows[0]  # the newest first
    # The section reads the shared persons ranked per member and their clients' scope: two queries.
    section_queries = [
        q["sql"] for q in with_section.captured_queries
        if "exchange_sharedperson" in q["sql"] or "exchange_apiclient" in q["sql"]
    ]
    assert len(section_queries) == 2
