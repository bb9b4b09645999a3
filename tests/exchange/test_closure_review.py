"""A file cannot wipe a region: closures above the threshold stop at a review step; no period, no import."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.urls import reverse

from exchange.departments import HealthRecord
from exchange.models import ImportBatch, ImportSettings, RejectedRow
from exchange.pipeline import FileRefused, cancel_review, confirm_review, import_department_file
from households.sensitive import mask_id_number
from povertycloud.audit.models import AuditEvent
from tests.exchange.files import HEALTH_COLUMNS, health_row, write_csv
from tests.factories import COUNTY, resident_id

pytestmark = pytest.mark.django_db
Status = ImportBatch.Status
PEOPLE = [
    resident_id(dt.date(1950 + i, 1 + i % 12, 1 + i % 27), sex=str(1 + i % 2), sequence=100 + i) for i in range(30)
]


def run(path, **kwargs) -> ImportBatch:
    return import_department_file(department="health", path=path, by=None, region_code=COUNTY, **kwargs)


def health_file(path, ids, period="2025-03"):
    return write_csv(path, HEALTH_COLUMNS, [health_row(n, "某某", 统计期=period) for n in ids], encoding="utf-8-sig")


@pytest.fixture
def march(regions, tmp_path) -> ImportBatch:
    """30 people current in the county."""
    return run(health_file(tmp_path / "march.csv", PEOPLE))


def current() -> set[str]:
    return set(HealthRecord.objects.filter(valid_to__isnull=True).values_list("id_number", flat=True))


def test_a_small_file_for_a_large_region_stops_for_review_and_writes_nothing(march, tmp_path):
    batch = run(health_file(tmp_path / "april.csv", [*PEOPLE[:2], "X"], period="2025-04"))
    assert batch.status == Status.REVIEW
    assert (batch.would_close, batch.region_current) == (28, 30)
    assert (batch.total_rows, batch.accepted_rows, batch.rejected_rows) == (3, 2, 1)
    assert current() == set(PEOPLE)  # nothing closed
    assert not HealthRecord.objects.filter(batch=batch).exists()
    assert not RejectedRow.objects.filter(batch=batch).exists()
    sampled = HealthRecord.objects.filter(pk__in=batch.review_sample)
    assert sorted(r.id_number for r in sampled) == sorted(PEOPLE[2:])
    assert "28" in batch.note and "30" in batch.note
    assert AuditEvent.objects.filter(object_pk=str(batch.pk), changes__status="review").exists()


def test_confirming_runs_the_import_again_with_those_closures_allowed(
    march, tmp_path, county_staff, django_capture_on_commit_callbacks
):
    batch = run(health_file(tmp_path / "april.csv", PEOPLE[:2], period="2025-04"))
    with django_capture_on_commit_callbacks(execute=True):
        confirm_review(batch=batch, by=county_staff)
    batch.refresh_from_db()
    assert batch.status == Status.SUCCEEDED and batch.closed_versions == 28
    assert (batch.reviewed_by, batch.closures_allowed) == (county_staff, 28)
    assert current() == set(PEOPLE[:2])
    assert HealthRecord.objects.filter(closed_by=batch).count() == 28
    assert AuditEvent.objects.filter(action="review", object_pk=str(batch.pk)).exists()


def test_cancelling_leaves_the_records_as_they_were(march, tmp_path, county_staff):
    batch = run(health_file(tmp_path / "april.csv", PEOPLE[:2], period="2025-04"))
    cancel_review(batch=batch, by=county_staff, reason="文件不全")
    batch.refresh_from_db()
    assert batch.status == Status.CANCELLED
    assert current() == set(PEOPLE)
    event = AuditEvent.objects.get(action="review", object_pk=str(batch.pk))
    assert event.note == "文件不全"
    with pytest.raises(Exception, match="已不在待确认状态"):
        confirm_review(batch=batch, by=county_staff)


def test_the_same_file_while_it_waits_is_not_a_second_batch(march, tmp_path):
    path = health_file(tmp_path / "april.csv", PEOPLE[:2], period="2025-04")
    first = run(path)
    again = run(path)
    assert again.pk == first.pk and again.already_imported and again.status == Status.REVIEW


def test_a_township_official_or_auditor_cannot_decide(march, tmp_path, official_a, auditor, other_county_staff):
    batch = run(health_file(tmp_path / "april.csv", PEOPLE[:2], period="2025-04"))
    for user in (official_a, auditor, other_county_staff):
        with pytest.raises(PermissionDenied):
            confirm_review(batch=batch, by=user)
        with pytest.raises(PermissionDenied):
            cancel_review(batch=batch, by=user)
    batch.refresh_from_db()
    assert batch.status == Status.REVIEW


def test_closures_within_the_threshold_go_through(march, tmp_path):
    batch = run(health_file(tmp_path / "april.csv", PEOPLE[:28], period="2025-04"))
    assert batch.status == Status.SUCCEEDED and batch.closed_versions == 2


def test_the_threshold_is_data_an_administrator_sets(march, tmp_path):
    ImportSettings.objects.create(max_closed_percent=Decimal("95"), min_closed_for_review=10)
    batch = run(health_file(tmp_path / "april.csv", PEOPLE[:2], period="2025-04"))
    assert batch.status == Status.SUCCEEDED and batch.closed_versions == 28
    assert ImportSettings.current().max_closed_percent == Decimal("95")


def test_the_default_threshold_is_ten_percent_and_ten_records():
    defaults = ImportSettings.current()
    assert defaults.pk is None
    assert not defaults.closures_need_review(closed=9, current=10)
    assert not defaults.closures_need_review(closed=10, current=100)
    assert defaults.closures_need_review(closed=11, current=100)
    assert defaults.closures_need_review(closed=2980, current=3000)


def test_a_header_only_file_closes_nothing(march, tmp_path):
    batch = run(health_file(tmp_path / "empty.csv", [], period="2025-04"), period="2025-04")
    assert batch.status == Status.SUCCEEDED and batch.closed_versions == 0 and batch.total_rows == 0
    assert "没有接收的行" in batch.note
    assert current() == set(PEOPLE)


def test_a_file_with_no_accepted_row_closes_nothing(march, tmp_path):
    rows = [health_row(n[:17] + ("0" if n[17] != "0" else "1"), "某某", 统计期="2025-04") for n in PEOPLE[:5]]
    batch = run(write_csv(tmp_path / "bad.csv", HEALTH_COLUMNS, rows))
    assert batch.status == Status.SUCCEEDED
    assert (batch.accepted_rows, batch.rejected_rows, batch.closed_versions) == (0, 5, 0)
    assert current() == set(PEOPLE)


def test_a_file_without_a_valid_period_is_refused_never_dated_today(regions, tmp_path):
    with pytest.raises(FileRefused, match="没有有效的统计期"):
        run(health_file(tmp_path / "p.csv", PEOPLE[:3], period="2025-13"))
    with pytest.raises(FileRefused, match="没有有效的统计期"):
        run(health_file(tmp_path / "empty.csv", []))
    assert not HealthRecord.objects.exists()
    assert set(ImportBatch.objects.values_list("status", flat=True)) == {Status.FAILED}
    assert not ImportBatch.objects.exclude(period="").exists()


def test_import_feed_refuses_a_missing_or_invalid_period(regions, tmp_path):
    with pytest.raises(CommandError, match="没有有效的统计期"):
        call_command(
            "import_feed", "health", str(health_file(tmp_path / "p.csv", PEOPLE[:3], period="三月")), "--region", COUNTY
        )
    with pytest.raises(CommandError, match="YYYY-MM"):
        call_command(
            "import_feed", "health", str(health_file(tmp_path / "q.csv", [])), "--period", "2025-13", "--region", COUNTY
        )


# --- The pages -------------------------------------------------------------------------------------------


@pytest.fixture
def waiting(march, tmp_path) -> ImportBatch:
    return run(health_file(tmp_path / "april.csv", PEOPLE[:2], period="2025-04"))


def test_the_batch_page_shows_what_would_close_masked_and_paged(client, county_staff, waiting):
    client.force_login(county_staff)
    html = client.get(reverse("exchange:batch", args=[waiting.pk])).content.decode()
    assert 'data-testid="closure-review"' in html and 'data-testid="review-confirm"' in html
    assert html.count('data-testid="would-close-row"') == 28
    for number in PEOPLE[2:]:
        assert number not in html
        assert mask_id_number(number) in html


def test_a_would_close_sample_is_paged(client, county_staff, waiting, monkeypatch):
    monkeypatch.setattr("exchange.selectors.PAGE_SIZE", 10)
    client.force_login(county_staff)
    url = reverse("exchange:batch", args=[waiting.pk])
    first = client.get(url).content.decode()
    assert first.count('data-testid="would-close-row"') == 10 and "?sample=10#review" in first
    last = client.get(url + "?sample=20").content.decode()
    assert last.count('data-testid="would-close-row"') == 8 and 'data-testid="would-close-next"' not in last


def test_county_staff_confirm_through_the_page(client, county_staff, waiting, django_capture_on_commit_callbacks):
    client.force_login(county_staff)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("exchange:batch_confirm", args=[waiting.pk]))
    assert response.status_code == 302
    waiting.refresh_from_db()
    assert waiting.status == Status.SUCCEEDED  # the immediate task backend ran it
    assert current() == set(PEOPLE[:2])


@pytest.mark.parametrize("action", ["batch_confirm", "batch_cancel"])
def test_a_township_official_or_an_auditor_gets_403(client, official_a, auditor, waiting, action):
    for user in (official_a, auditor):
        client.force_login(user)
        assert client.post(reverse(f"exchange:{action}", args=[waiting.pk])).status_code == 403
    waiting.refresh_from_db()
    assert waiting.status == Status.REVIEW


@pytest.mark.parametrize("action", ["batch_confirm", "batch_cancel"])
def test_county_staff_of_another_county_gets_404(client, other_county_staff, waiting, action):
    client.force_login(other_county_staff)
    assert client.post(reverse(f"exchange:{action}", args=[waiting.pk])).status_code == 404
    waiting.refresh_from_db()
    assert waiting.status == Status.REVIEW


def test_an_administrator_may_cancel(client, admin_user, waiting):
    client.force_login(admin_user)
    assert client.post(reverse("exchange:batch_cancel", args=[waiting.pk]), {"reason": "重报"}).status_code == 302
    waiting.refresh_from_db()
    assert waiting.status == Status.CANCELLED and waiting.reviewed_by == admin_user


def test_the_upload_form_refuses_an_invalid_period(client, county_staff, regions, tmp_path):
    client.force_login(county_staff)
    path = health_file(tmp_path / "h.csv", PEOPLE[:2])
    with path.open("rb") as handle:
        response = client.post(
            reverse("exchange:upload"),
            {"department": "health", "region": COUNTY, "file": handle, "period": "2025-13"},
        )
    assert response.status_code == 200 and "统计期应写作 YYYY-MM" in response.content.decode()
    assert not ImportBatch.objects.exists()
