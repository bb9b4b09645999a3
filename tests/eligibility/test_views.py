"""The cross-check pages: counts per township and check with the latest run, the hits with their evidence, and a
hit's verification. Officials see their township, county staff their county, auditors everything in their region
read-only; an object outside the user's region is 404."""

import datetime as dt
import re
from html.parser import HTMLParser

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from eligibility import selectors, services
from eligibility.models import CrossCheckHit, CrossCheckRun
from exchange.feeds.models import DeclaredRecord
from households.models import Person
from povertycloud.regions.models import Region
from tests.eligibility.page_builders import cross_check_world
from tests.factories import COUNTY, TOWNSHIP_A, TOWNSHIP_B

pytestmark = pytest.mark.django_db
HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")


@pytest.fixture
def world(county_staff, tmp_path):
    return cross_check_world(by=county_staff, tmp_path=tmp_path)


def page_of(client, user, name, *args, **query):
    client.force_login(user)
    response = client.get(reverse(f"eligibility:{name}", args=args), query)
    return response


def listed_ids(response) -> set[int]:
    return {int(pk) for pk in re.findall(r'data-testid="hit-row" data-hit-id="(\d+)"', response.content.decode())}


def summary_townships(response) -> set[str]:
    return set(re.findall(r'data-testid="summary-row" data-township="(\d+)"', response.content.decode()))


# --- The overview -------------------------------------------------------------------------------------------


def test_county_staff_see_every_township_of_the_county_with_counts_and_the_latest_run(client, world, county_staff):
    response = page_of(client, county_staff, "overview")
    page = response.content.decode()
    assert response.status_code == 200
    assert summary_townships(response) == {TOWNSHIP_A, TOWNSHIP_B}
    assert 'data-testid="run-checks"' in page
    assert 'data-testid="run-state" data-status="finished"' in page
    assert "2025-04-01" in page and county_staff.get_full_name() in page
    assert "发现疑点 3 条，其中新增 3 条。" in page


def test_a_township_official_sees_only_their_townships_counts_and_no_run_button(client, world, official_a):
    CrossCheckHit.objects.filter(pk=world.deceased_a.pk).update(status="confirmed", decided_at=dt.datetime.now(dt.UTC))
    response = page_of(client, official_a, "overview")
    page = response.content.decode()
    assert summary_townships(response) == {TOWNSHIP_A}
    assert "郎德镇" not in page
    assert 'data-testid="run-checks"' not in page
    # The run's county-wide count (3, one of them in 郎德镇) is not shown to a township: its own hits are.
    assert "发现疑点 3 条" not in page and "本辖区疑点 2 条。" in page
    cells = re.findall(r'data-check="(\w+)">\s*(.*?)\s*</td>', page, flags=re.S)
    counts = {code: re.findall(r">(\d+)</a>", cell) for code, cell in cells}
    assert counts == {"page_deceased": ["0", "1", "0"], "page_subsidy_after_death": ["1", "0", "0"]}


def test_the_auditor_sees_the_counts_of_the_region_without_a_run_button(client, world, auditor):
    response = page_of(client, auditor, "overview")
    assert summary_townships(response) == {TOWNSHIP_A, TOWNSHIP_B}
    assert 'data-testid="run-checks"' not in response.content.decode()


def test_the_administrator_picks_the_county_to_run(client, world, admin_user):
    page = page_of(client, admin_user, "overview").content.decode()
    assert 'data-testid="run-checks"' in page
    assert f'<option value="{COUNTY}"' in page


def test_the_counts_come_from_one_grouped_query(world, county_staff, django_assert_num_queries):
    assert county_staff.region.level == Region.Level.COUNTY  # the user's region, read with the user
    with django_assert_num_queries(1):
        counts = selectors.township_summary(county_staff)
    assert counts[(TOWNSHIP_A, world.deceased.pk)].pending == 1
    assert counts[(TOWNSHIP_A, world.payment.pk)].pending == 1
    assert counts[(TOWNSHIP_B, world.deceased.pk)].pending == 1


def test_a_page_without_hits_or_runs_says_so(client, official_b, db):
    page = page_of(client, official_b, "overview").content.decode()
    assert 'data-testid="no-run"' in page
    assert 'data-testid="no-hits"' not in page or "本辖区没有比对疑点。" in page


# --- Running the checks ---------------------------------------------------------------------------------------


@pytest.fixture
def queued(monkeypatch):
    """The task's enqueue, recorded instead of run (the run itself is eligibility.services' own tests')."""
    import eligibility.tasks

    calls = []
    monkeypatch.setattr(eligibility.tasks, "enqueue_cross_checks", lambda **kwargs: calls.append(kwargs))
    return calls


def test_county_staff_queue_a_run_of_their_county(client, county_staff, queued, db):
    client.force_login(county_staff)
    response = client.post(reverse("eligibility:run"), {"as_of": "2025-04-01"}, follow=True)
    assert queued == [{"county_code": COUNTY, "as_of": dt.date(2025, 4, 1), "by": county_staff}]
    assert "比对已加入后台队列（比对日期 2025-04-01）" in response.content.decode()


def test_without_a_date_the_run_is_as_of_today(client, county_staff, queued, db):
    client.force_login(county_staff)
    client.post(reverse("eligibility:run"), {})
    assert [call["as_of"] for call in queued] == [timezone.localdate()]


def test_a_queued_run_then_its_progress_then_a_failure_are_shown(client, world, county_staff):
    run = CrossCheckRun.objects.create(county_code=COUNTY, as_of=dt.date(2025, 5, 1), started_by=county_staff)
    services.publish_progress(run.pk, 0, 0, "queued")
    page = page_of(client, county_staff, "overview").content.decode()
    assert 'data-testid="run-state" data-status="queued"' in page and "2025-05-01" in page
    services.publish_progress(run.pk, 3, 9, "running", check="page_deceased")
    page = page_of(client, county_staff, "overview").content.decode()
    assert 'data-testid="run-state" data-status="running"' in page
    assert 'value="33"' in page and "已完成 3 / 9 条规则" in page
    services.publish_progress(run.pk, 0, 0, "failed", error="OperationalError: x")
    page = page_of(client, county_staff, "overview").content.decode()
    assert 'data-testid="run-state" data-status="failed"' in page and "OperationalError: x" in page


def test_a_run_dated_in_the_future_is_refused(client, county_staff, queued, db):
    client.force_login(county_staff)
    tomorrow = dt.date.today() + dt.timedelta(days=2)
    response = client.post(reverse("eligibility:run"), {"as_of": tomorrow.isoformat()}, follow=True)
    assert queued == []
    assert "比对日期不能晚于今天。" in response.content.decode()


def test_the_administrator_runs_the_county_chosen(client, admin_user, queued, db, regions):
    client.force_login(admin_user)
    client.post(reverse("eligibility:run"), {"county": COUNTY})
    assert [call["county_code"] for call in queued] == [COUNTY]


@pytest.mark.parametrize("role", ["auditor", "official_a"])
def test_auditors_and_officials_may_not_run_the_checks(client, request, role, queued, db):
    client.force_login(request.getfixturevalue(role))
    assert client.post(reverse("eligibility:run"), {"as_of": "2025-04-01"}).status_code == 403
    assert queued == []


# --- The hit list -------------------------------------------------------------------------------------------


def test_an_official_lists_the_hits_of_their_township_only(client, world, official_a, official_b):
    assert listed_ids(page_of(client, official_a, "hits")) == {world.deceased_a.pk, world.payment_a.pk}
    assert listed_ids(page_of(client, official_b, "hits")) == {world.deceased_b.pk}
    # Asking for the other township by its code shows nothing of it.
    assert listed_ids(page_of(client, official_b, "hits", township=TOWNSHIP_A)) == {world.deceased_b.pk}
    assert listed_ids(page_of(client, official_b, "hits", check=world.payment.pk)) == set()


@pytest.mark.parametrize("role", ["county_staff", "auditor", "admin_user"])
def test_county_staff_auditors_and_administrators_list_every_hit_of_their_region(client, world, request, role):
    ids = listed_ids(page_of(client, request.getfixturevalue(role), "hits"))
    assert ids == {world.deceased_a.pk, world.deceased_b.pk, world.payment_a.pk}


def test_each_row_shows_the_check_the_masked_id_the_evidence_and_its_batch(client, world, county_staff):
    page = page_of(client, county_staff, "hits", check=world.payment.pk).content.decode()
    person = Person.objects.get(pk=world.payment_a.person_id)
    assert listed_ids_from(page) == {world.payment_a.pk}
    assert person.id_number not in page
    assert person.id_number[:10] + "********" in page
    assert "死亡后仍发放补贴" in page and "张建国" in page and "西江村" in page
    assert "公安 死亡注销" in page and "死亡日期：2025-02-14" in page and "注销原因：病故" in page
    assert reverse("exchange:batch", args=[world.batch.pk]) in page
    assert "2025-03-20" in page and "1200.50 元" in page
    assert "待核实" in page


def listed_ids_from(page: str) -> set[int]:
    return {int(pk) for pk in re.findall(r'data-testid="hit-row" data-hit-id="(\d+)"', page)}


def test_the_list_filters_by_check_township_and_status(client, world, county_staff):
    CrossCheckHit.objects.filter(pk=world.deceased_b.pk).update(
        status="dismissed", reason="同名", decided_at=dt.datetime.now(dt.UTC)
    )
    assert listed_ids(page_of(client, county_staff, "hits", check=world.deceased.pk)) == {
        world.deceased_a.pk,
        world.deceased_b.pk,
    }
    assert listed_ids(page_of(client, county_staff, "hits", township=TOWNSHIP_B)) == {world.deceased_b.pk}
    assert listed_ids(page_of(client, county_staff, "hits", status="pending")) == {
        world.deceased_a.pk,
        world.payment_a.pk,
    }
    assert listed_ids(page_of(client, county_staff, "hits", status="dismissed", check=world.payment.pk)) == set()


def test_an_unknown_filter_value_lists_everything_the_user_may_see(client, world, official_a):
    response = page_of(client, official_a, "hits", check="abc", status="nonsense", after="x:y")
    assert response.status_code == 200
    assert listed_ids(response) == {world.deceased_a.pk, world.payment_a.pk}


def test_the_list_is_paged_by_key_without_counting(client, world, county_staff, monkeypatch):
    monkeypatch.setattr(selectors, "PAGE_SIZE", 2)
    client.force_login(county_staff)
    seen, query, pages = [], {}, 0
    while True:
        response = client.get(reverse("eligibility:hits"), query)
        page = response.content.decode()
        seen += [int(pk) for pk in re.findall(r'data-hit-id="(\d+)"', page)]
        pages += 1
        found = re.search(r'after=([^"&]+)" rel="next"', page)
        if not found:
            break
        query = {"after": found.group(1).replace("%3A", ":")}
    assert pages == 2
    assert sorted(seen) == sorted({world.deceased_a.pk, world.deceased_b.pk, world.payment_a.pk})
    assert len(seen) == 3


def test_the_hits_are_read_in_township_order_by_a_key(world, county_staff):
    hits = selectors.hits_for(county_staff)
    assert list(hits.query.order_by) == ["township_code", "id"]
    first = selectors.hit_page(hits, size=1)
    assert first.next_key == f"{TOWNSHIP_A}:{min(world.deceased_a.pk, world.payment_a.pk)}"
    rest = selectors.hit_page(hits, after=first.next_key, size=5)
    assert [hit.township_code for hit in rest.rows] == [TOWNSHIP_A, TOWNSHIP_B]


def test_the_batch_link_is_left_out_for_a_user_who_may_not_see_the_batch(client, world, official_a):
    page = page_of(client, official_a, "hits").content.decode()
    # The batch was uploaded for the county: a township official sees its number, not a link to it.
    assert reverse("exchange:batch", args=[world.batch.pk]) not in page
    assert f"#{world.batch.pk}" in page


def test_evidence_that_was_rolled_back_is_said_to_be_gone(client, world, county_staff):
    DeclaredRecord.all_versions.filter(pk=world.deceased_b.evidence_record_id).update(void=True)
    page = page_of(client, county_staff, "hit", world.deceased_b.pk).content.decode()
    assert "死亡日期" in page or 'data-testid="evidence-missing"' in page


# --- The hit and its verification ---------------------------------------------------------------------------


def test_another_townships_official_gets_404_for_a_hit_and_for_its_verification(client, world, official_b):
    client.force_login(official_b)
    pk = world.deceased_a.pk
    assert client.get(reverse("eligibility:hit", args=[pk])).status_code == 404
    assert client.post(reverse("eligibility:confirm", args=[pk]), {"note": "x"}).status_code == 404
    assert client.post(reverse("eligibility:dismiss", args=[pk]), {"reason": "x"}).status_code == 404
    assert CrossCheckHit.objects.get(pk=pk).status == "pending"


def test_an_unknown_hit_is_404(client, world, county_staff):
    client.force_login(county_staff)
    assert client.get(reverse("eligibility:hit", args=[999999])).status_code == 404


def test_the_official_sees_the_hit_with_the_verification_forms(client, world, official_a):
    page = page_of(client, official_a, "hit", world.payment_a.pk).content.decode()
    assert 'data-testid="confirm-form"' in page and 'data-testid="dismiss-form"' in page
    assert "2025-03-20" in page and "1200.50" in page and "发放日期晚于死亡日期" in page
    assert "转入资金追回" in page


def test_the_auditor_reads_the_hit_without_forms_and_may_not_verify(client, world, auditor):
    client.force_login(auditor)
    pk = world.deceased_a.pk
    page = client.get(reverse("eligibility:hit", args=[pk])).content.decode()
    assert 'data-testid="hit"' in page
    assert "<form" not in page.split('data-testid="verification"')[1]
    assert client.post(reverse("eligibility:confirm", args=[pk]), {"note": "x"}).status_code == 403
    assert client.post(reverse("eligibility:dismiss", args=[pk]), {"reason": "x"}).status_code == 403
    assert CrossCheckHit.objects.get(pk=pk).status == "pending"


def test_an_official_confirms_a_hit_with_a_note_through_the_form(client, world, official_a):
    client.force_login(official_a)
    pk = world.deceased_a.pk
    response = client.post(reverse("eligibility:confirm", args=[pk]), {"note": "入户核实，确已病故"}, follow=True)
    hit = CrossCheckHit.objects.get(pk=pk)
    assert (hit.status, hit.outcome, hit.decided_by) == ("confirmed", "exit_review", official_a)
    assert hit.decided_at is not None
    page = response.content.decode()
    assert "已核实属实，转入后续处理：转入退出或标注审核。" in page
    assert 'data-testid="decided-by"' in page and official_a.get_full_name() in page
    assert 'data-testid="confirm-form"' not in page


def test_county_staff_confirm_without_a_note(client, world, county_staff):
    client.force_login(county_staff)
    client.post(reverse("eligibility:confirm", args=[world.deceased_b.pk]), {"note": ""})
    assert CrossCheckHit.objects.get(pk=world.deceased_b.pk).status == "confirmed"


def test_an_official_dismisses_a_hit_with_a_reason_and_the_page_shows_who_and_when(client, world, official_a):
    client.force_login(official_a)
    pk = world.payment_a.pk
    reason = "补贴为死亡前应发，已核对"
    response = client.post(reverse("eligibility:dismiss", args=[pk]), {"reason": reason}, follow=True)
    hit = CrossCheckHit.objects.get(pk=pk)
    assert (hit.status, hit.reason, hit.decided_by) == ("dismissed", "补贴为死亡前应发，已核对", official_a)
    page = response.content.decode()
    assert "已排除这条疑点。" in page
    assert 'data-testid="hit" data-status="dismissed"' in page
    assert "补贴为死亡前应发，已核对" in page
    decided = re.search(r'data-testid="decided-at">([^<]+)<', page).group(1)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", decided)
    # The list shows it dismissed too.
    assert f'data-hit-id="{pk}" data-status="dismissed"' in client.get(reverse("eligibility:hits")).content.decode()


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_dismissal_without_a_reason_shows_the_error_and_changes_nothing(client, world, official_a, reason):
    client.force_login(official_a)
    pk = world.deceased_a.pk
    response = client.post(reverse("eligibility:dismiss", args=[pk]), {"reason": reason})
    assert response.status_code == 400
    assert "排除疑点须填写原因。" in response.content.decode()
    hit = CrossCheckHit.objects.get(pk=pk)
    assert (hit.status, hit.reason, hit.decided_at) == ("pending", "", None)


def test_a_hit_someone_decided_first_ends_in_a_message_not_an_error(client, world, official_a, county_staff):
    client.force_login(county_staff)
    pk = world.deceased_a.pk
    client.post(reverse("eligibility:confirm", args=[pk]), {"note": ""})
    client.force_login(official_a)
    response = client.post(reverse("eligibility:dismiss", args=[pk]), {"reason": "同名不同人"}, follow=True)
    assert response.status_code == 200
    assert "这条疑点已由他人核实，未作更改。" in response.content.decode()
    hit = CrossCheckHit.objects.get(pk=pk)
    assert (hit.status, hit.decided_by) == ("confirmed", county_staff)


def test_the_race_inside_the_service_also_ends_in_a_message(client, world, official_a, monkeypatch):
    """The page was read while the hit was pending; the other decision lands between the read and the update."""
    real = services.dismiss_hit

    def decided_meanwhile(*, hit, by, reason):
        CrossCheckHit.objects.filter(pk=hit.pk).update(
            status="confirmed", outcome="exit_review", decided_at=dt.datetime.now(dt.UTC)
        )
        return real(hit=hit, by=by, reason=reason)

    monkeypatch.setattr(services, "dismiss_hit", decided_meanwhile)
    client.force_login(official_a)
    response = client.post(
        reverse("eligibility:dismiss", args=[world.deceased_a.pk]), {"reason": "同名不同人"}, follow=True
    )
    assert response.status_code == 200
    assert "这条疑点已由他人核实，未作更改。" in response.content.decode()
    assert CrossCheckHit.objects.get(pk=world.deceased_a.pk).status == "confirmed"


def test_a_get_does_not_verify(client, world, official_a):
    client.force_login(official_a)
    assert client.get(reverse("eligibility:dismiss", args=[world.deceased_a.pk])).status_code == 405


def test_the_navigation_links_to_the_checks_for_every_role(client, world, official_a, auditor):
    for user in (official_a, auditor):
        client.force_login(user)
        page = client.get(reverse("eligibility:hits")).content.decode()
        assert 'data-testid="nav-eligibility"' in page


# --- Language -------------------------------------------------------------------------------------------------


@pytest.fixture
def english_catalogue():
    yield
    translation.deactivate()


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag in ("script", "style"):
            self._skip += 1
        for name in ("title", "placeholder", "aria-label", "data-label"):
            if values.get(name):
                self.parts.append(values[name])

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if data.strip() and not self._skip:
            self.parts.append(data.strip())


def data_values(world) -> list[str]:
    """The county's own words on these pages (names, places, file names, what the department wrote)."""
    values = {"简体中文"}
    for hit in CrossCheckHit.objects.all():
        values.update({hit.name, hit.detail, hit.reason, hit.cross_check.description})
    values.update(Region.objects.values_list("name", flat=True))
    for record in DeclaredRecord.objects.all():
        values.update(str(v) for v in (record.data or {}).values())
    values.add(world.batch.file_name)
    return sorted((v for v in values if v and HAN.search(v)), key=len, reverse=True)


@pytest.mark.parametrize("role", ["county_staff", "auditor", "official_a"])
def test_in_english_the_pages_show_no_chinese_of_their_own(client, world, request, role, english_catalogue):
    user = request.getfixturevalue(role)
    client.force_login(user)
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    if role != "auditor":
        client.post(reverse("eligibility:dismiss", args=[world.payment_a.pk]), {"reason": "同名不同人"})
    data = data_values(world)
    addresses = [
        reverse("eligibility:overview"),
        reverse("eligibility:hits"),
        reverse("eligibility:hits") + f"?status=pending&check={world.payment.pk}",
        reverse("eligibility:hit", args=[world.payment_a.pk]),
    ]
    left = [(address, part) for address in addresses for part in chinese_left(client, address, data)]
    # A run queued, running, failed.
    run = CrossCheckRun.objects.create(county_code=COUNTY, as_of=dt.date(2025, 5, 1), started_by=user)
    for stage in ("queued", "running", "failed"):
        services.publish_progress(run.pk, 1, 2, stage, error="Error")
        left += [(stage, part) for part in chinese_left(client, reverse("eligibility:overview"), data)]
    assert not left, left


def chinese_left(client, address: str, data: list[str]) -> list[str]:
    response = client.get(address)
    assert response.status_code == 200, address
    parser = _Text()
    parser.feed(response.content.decode())
    left = []
    for part in parser.parts:
        for value in data:
            part = part.replace(value, " ")
        if HAN.search(part):
            left.append(part)
    return left


def test_the_list_reads_the_same_number_of_queries_for_more_hits(client, world, county_staff):
    client.force_login(county_staff)
    client.get(reverse("eligibility:hits"))
    with CaptureQueriesContext(connection) as three:
        client.get(reverse("eligibility:hits"))
    for n in range(3):
        CrossCheckHit.objects.create(
            **{
                **{f.attname: getattr(world.deceased_b, f.attname) for f in CrossCheckHit._meta.concrete_fields},
                "id": None,
                "evidence_record_id": world.deceased_b.evidence_record_id,
                "payment_kind": "again",
                "payment_id": n + 1,
            }
        )
    with CaptureQueriesContext(connection) as six:
        client.get(reverse("eligibility:hits"))
    assert len(six.captured_queries) == len(three.captured_queries)
