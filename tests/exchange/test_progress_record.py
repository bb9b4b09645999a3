"""A running import's page shows one stage: the status tag, the bar, its text and the row counts all come from
one progress record (exchange.views.import_progress), on the page and from the progress poll alike."""

import re

import pytest
from django.core.cache import cache
from django.urls import reverse

from exchange.models import ImportBatch
from exchange.views import import_progress
from tests.exchange.records import make_batch

pytestmark = pytest.mark.django_db
Status = ImportBatch.Status


def publish(batch, done, total, stage):
    cache.set(f"import-progress:{batch.pk}", {"done": done, "total": total, "stage": stage})


def poll(client, batch):
    response = client.get(reverse("exchange:batch_progress", args=[batch.pk]))
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    return response.json()


def page(client, batch):
    return client.get(reverse("exchange:batch", args=[batch.pk])).content.decode()


def test_validating_shows_one_stage_in_the_tag_the_bar_and_the_counts(client, county_staff):
    batch = make_batch(status=Status.RUNNING)
    publish(batch, 300, 1000, "validating")
    client.force_login(county_staff)
    data = poll(client, batch)
    assert (data["stage"], data["done"], data["total"], data["percent"]) == ("validating", 300, 1000, 30)
    assert data["status_label"] == "正在读取和校验"
    assert data["label"] == "正在读取和校验：300 / 1000 行"
    assert data["counts_label"].startswith("已读取 300 / 1000 行")
    html = page(client, batch)
    tag = re.search(r'data-testid="batch-status"[^>]*>([^<]*)<', html).group(1)
    assert tag == data["status_label"]
    assert 'value="30"' in html and data["label"] in html and data["counts_label"] in html
    # Counts of no stage yet: the final counts and their sum check wait for the end of the import.
    assert 'data-testid="count-check"' not in html and 'data-testid="count-total"' not in html


def test_the_bar_is_never_full_while_rows_are_still_read(client, county_staff):
    batch = make_batch(status=Status.RUNNING)
    publish(batch, 1000, 1000, "validating")
    client.force_login(county_staff)
    assert poll(client, batch)["percent"] == 99
    publish(batch, 1200, 1000, "validating")  # the estimate was short: the total follows the rows read
    data = poll(client, batch)
    assert (data["done"], data["total"], data["percent"]) == (1200, 1200, 99)


def test_writing_records_is_indeterminate_not_full(client, county_staff):
    batch = make_batch(status=Status.RUNNING)
    publish(batch, 1000, 1000, "merging")
    client.force_login(county_staff)
    data = poll(client, batch)
    assert data["percent"] is None and data["status_label"] == "正在写入记录"
    assert data["label"] == "正在写入记录：已校验 1000 行"
    html = page(client, batch)
    bar = re.search(r"<progress[^>]*>", html).group(0)
    assert "value=" not in bar and "data-progress-url" in bar


def test_a_queued_batch_ignores_what_an_earlier_run_left_in_the_cache(client, county_staff):
    """A confirmed review runs again: the cache may still hold the first run's stage and rows."""
    batch = make_batch(status=Status.RECEIVED, total_rows=500, accepted_rows=400, rejected_rows=100)
    publish(batch, 500, 500, "merging")
    client.force_login(county_staff)
    data = poll(client, batch)
    assert (data["stage"], data["done"], data["total"], data["percent"]) == ("received", 0, 0, 0)
    assert data["status_label"] == data["label"] == "排队等待导入"
    html = page(client, batch)
    assert 'data-testid="count-accepted"' not in html and "接收和拒收的行数在导入完成后列出。" in html


def test_a_running_batch_without_a_cached_stage_says_it_is_reading(client, county_staff):
    batch = make_batch(status=Status.RUNNING)
    publish(batch, 0, 0, "succeeded")  # a stage that a running batch cannot be in
    client.force_login(county_staff)
    data = poll(client, batch)
    assert (data["stage"], data["percent"], data["finished"]) == ("validating", None, False)


def test_a_finished_batch_shows_the_database_not_the_cache(client, county_staff):
    batch = make_batch(status=Status.SUCCEEDED, total_rows=10, accepted_rows=9, rejected_rows=1)
    publish(batch, 3, 1000, "validating")
    client.force_login(county_staff)
    data = poll(client, batch)
    assert (data["stage"], data["done"], data["total"], data["percent"], data["finished"]) == (
        "succeeded",
        10,
        10,
        100,
        True,
    )
    assert data["status_label"] == data["label"] == "已完成"
    assert data["counts_label"] == "接收 9 + 拒收 1 = 总计 10"
    html = page(client, batch)
    assert "data-progress-url" not in html and "js/progress.js" not in html
    assert 'data-testid="count-check"' in html


def test_a_failed_batch_has_an_empty_bar():
    batch = make_batch(status=Status.FAILED)
    record = import_progress(batch)
    assert (record["percent"], record["status_label"], record["finished"]) == (0, "失败", True)


def test_the_registry_batch_page_draws_the_same_record(client, county_staff, regions):
    batch = make_batch("registry", status=Status.RUNNING)
    publish(batch, 40, 200, "validating")
    client.force_login(county_staff)
    html = client.get(reverse("exchange:registry_batch", args=[batch.pk])).content.decode()
    tag = re.search(r'data-testid="batch-status"[^>]*>([^<]*)<', html).group(1)
    assert tag == "正在读取和校验" and 'value="20"' in html and "正在读取和校验：40 / 200 行" in html


def test_another_regions_batch_progress_is_not_found(client, official_b):
    batch = make_batch(status=Status.RUNNING)
    client.force_login(official_b)
    assert client.get(reverse("exchange:batch_progress", args=[batch.pk])).status_code == 404
