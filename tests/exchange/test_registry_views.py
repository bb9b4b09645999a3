"""The registry import pages: upload as a background job, the batch page, rejects, and who may do what."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from exchange.models import ImportBatch
from households.models import Household, Person
from povertycloud.audit.models import AuditEvent
from tests.exchange.registry_files import MEMBER_COLUMNS, member_row, small_export, write_table
from tests.factories import COUNTY, TOWNSHIP_A

pytestmark = pytest.mark.django_db
UPLOAD = "exchange:registry_upload"


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    return settings.VAR_DIR


def uploaded(paths) -> list[SimpleUploadedFile]:
    return [SimpleUploadedFile(p.name, p.read_bytes(), content_type="text/csv") for p in paths]


@pytest.fixture
def post_export(django_capture_on_commit_callbacks):
    """Post an export and run the background job it enqueues (on commit)."""

    def post(client, paths, *, region=COUNTY, as_of="2025-12-31"):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(reverse(UPLOAD), {"region": region, "as_of": as_of, "files": uploaded(paths)})

    return post


def test_county_staff_upload_runs_the_import_in_the_background(
    client, county_staff, tmp_path, django_capture_on_commit_callbacks
):
    client.force_login(county_staff)
    paths = small_export(tmp_path)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(reverse(UPLOAD), {"region": COUNTY, "as_of": "2025-12-31", "files": uploaded(paths)})
    # The import job was enqueued once the batch was recorded; the import, done, asked for the county's
    # data-quality counts once it committed.
    assert [c.__qualname__.split(".")[0] for c in callbacks] == ["enqueue_registry_import", "request_refresh"]
    batch = ImportBatch.objects.get(department="registry")
    assert response.status_code == 302 and response.url == reverse("exchange:registry_batch", args=[batch.pk])
    assert batch.status == ImportBatch.Status.SUCCEEDED and batch.uploaded_by == county_staff
    assert Household.objects.count() == 3 and Person.objects.count() == 6
    page = client.get(response.url)
    html = page.content.decode()
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    assert html.count('data-testid="registry-table-row"') == 3
    assert "成员信息" in html and "没有拒收的行" in html


def test_the_batch_page_masks_rejected_ids_and_the_download_is_audited(client, county_staff, tmp_path, post_export):
    paths = small_export(tmp_path)
    bad = member_row("H404", "无户者", sequence=9)
    write_table(paths[1], MEMBER_COLUMNS, [member_row("H001", "杨秀英", sex="2", sequence=1), bad])
    client.force_login(county_staff)
    post_export(client, paths)
    batch = ImportBatch.objects.get(department="registry")
    html = client.get(reverse("exchange:registry_batch", args=[batch.pk])).content.decode()
    assert "户信息表中没有户编号 H404" in html
    assert bad["证件号码"] not in html and bad["证件号码"][:10] + "********" in html
    download = client.get(reverse("exchange:registry_rejected", args=[batch.pk]))
    text = download.content.decode("utf-8-sig")
    assert "H404" in text and bad["证件号码"] not in text
    assert AuditEvent.objects.filter(action="export", entity="exchange.rejectedrow", object_pk=str(batch.pk)).exists()
    full = client.get(reverse("exchange:registry_rejected", args=[batch.pk]), {"full": "1"}).content.decode("utf-8-sig")
    assert bad["证件号码"] in full


def test_a_township_official_imports_into_their_township_only(client, official_a, tmp_path, post_export):
    client.force_login(official_a)
    form = client.get(reverse(UPLOAD)).context["form"]
    assert [code for code, _ in form.fields["region"].choices] == [TOWNSHIP_A]
    response = post_export(client, small_export(tmp_path), region=COUNTY)
    assert response.status_code == 200 and not ImportBatch.objects.exists()
    assert "region" in response.context["form"].errors


def test_auditors_cannot_upload(client, auditor, tmp_path, post_export):
    client.force_login(auditor)
    assert 'data-testid="registry-upload-view-only"' in client.get(reverse(UPLOAD)).content.decode()
    assert post_export(client, small_export(tmp_path)).status_code == 403
    assert not ImportBatch.objects.exists()


def test_another_regions_batch_is_not_found(client, county_staff, official_b, tmp_path, post_export):
    client.force_login(county_staff)
    post_export(client, small_export(tmp_path))
    batch = ImportBatch.objects.get(department="registry")
    client.force_login(official_b)  # township B: the batch is the county's
    assert client.get(reverse("exchange:registry_batch", args=[batch.pk])).status_code == 404
    assert client.get(reverse("exchange:registry_rejected", args=[batch.pk])).status_code == 404


def test_a_date_in_the_future_and_no_files_are_form_errors(client, county_staff, tmp_path):
    client.force_login(county_staff)
    response = client.post(reverse(UPLOAD), {"region": COUNTY, "as_of": "2999-01-01"})
    errors = response.context["form"].errors
    assert "as_of" in errors and "files" in errors
    assert not ImportBatch.objects.exists()


def test_a_file_that_is_no_registry_table_fails_the_batch_with_the_reason(client, county_staff, tmp_path, post_export):
    stray = tmp_path / "其他.csv"
    stray.write_text("姓名,电话\n张三,1\n", encoding="utf-8")
    client.force_login(county_staff)
    post_export(client, [*small_export(tmp_path)[:2], stray])
    batch = ImportBatch.objects.get(department="registry")
    assert batch.status == ImportBatch.Status.FAILED and "无法识别" in batch.error
    assert not Household.objects.exists()


def test_the_batch_list_links_a_registry_batch_to_its_page(client, county_staff, tmp_path, post_export):
    client.force_login(county_staff)
    post_export(client, small_export(tmp_path))
    batch = ImportBatch.objects.get(department="registry")
    html = client.get(reverse("exchange:batches")).content.decode()
    assert reverse("exchange:registry_batch", args=[batch.pk]) in html and "户档案（国家系统导出）" in html
    assert client.get(reverse("exchange:batch", args=[batch.pk])).url == reverse(
        "exchange:registry_batch", args=[batch.pk]
    )


@pytest.fixture
def conflict(official_a, tmp_path):
    """An official edits 吴明's labour skill after an import; the next export says otherwise."""
    from exchange.registry.service import import_registry
    from households.services import update_person
    from tests.exchange.test_registry_import import AS_OF, base_members

    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    import_registry(region_code=COUNTY, paths=small_export(tmp_path / "a"), by=None, as_of=AS_OF)
    person = Person.objects.get(name="吴明")
    update_person(by=official_a, person=person, data={"labour_skill": "3"}, expected_version=person.version)
    members = base_members()
    members[1]["劳动技能"] = "技能劳动力"
    paths = small_export(tmp_path / "b")
    write_table(paths[1], MEMBER_COLUMNS, members)
    batch = import_registry(region_code=COUNTY, paths=paths, by=None, as_of=AS_OF)
    return batch.conflicts.get()


def settle_url(conflict) -> str:
    return reverse("exchange:registry_settle", args=[conflict.pk])


def test_the_township_takes_the_exports_value_through_the_household_services(client, official_a, conflict):
    client.force_login(official_a)
    page = client.get(reverse("exchange:registry_conflicts")).content.decode()
    assert 'data-testid="conflict-row"' in page and 'data-testid="settle-take"' in page
    client.post(settle_url(conflict), {"choice": "take"})
    conflict.refresh_from_db()
    assert conflict.status == "taken" and conflict.settled_by == official_a
    person = Person.objects.get(name="吴明")
    assert person.labour_skill == "2"
    assert AuditEvent.objects.filter(entity="households.person", object_pk=str(person.pk), action="update").count() == 2
    assert AuditEvent.objects.filter(entity="exchange.registryconflict", action="review").exists()
    # Settled once: a second answer is a message, not a change.
    response = client.post(settle_url(conflict), {"choice": "keep"}, follow=True)
    assert "已由他人处理" in response.content.decode()
    conflict.refresh_from_db()
    assert conflict.status == "taken"


def test_keeping_the_systems_value_changes_no_record(client, official_a, conflict):
    client.force_login(official_a)
    client.post(settle_url(conflict), {"choice": "keep"})
    conflict.refresh_from_db()
    assert conflict.status == "kept"
    assert Person.objects.get(name="吴明").labour_skill == "3"


def test_only_officials_of_the_region_settle_conflicts(client, official_b, auditor, conflict):
    client.force_login(official_b)
    assert 'data-testid="no-conflicts"' in client.get(reverse("exchange:registry_conflicts")).content.decode()
    assert client.post(settle_url(conflict), {"choice": "take"}).status_code == 404
    client.force_login(auditor)
    assert client.post(settle_url(conflict), {"choice": "take"}).status_code == 403
    conflict.refresh_from_db()
    assert conflict.status == "open"


@pytest.mark.parametrize(
    ("name", "method"),
    [("batch_rollback", "post"), ("batch_confirm", "post"), ("batch_cancel", "post"), ("rejected_download", "post")],
)
def test_a_registry_batch_on_the_department_batch_actions_answers_404_not_500(
    client, county_staff, tmp_path, name, method
):
    from exchange.registry.service import import_registry
    from tests.exchange.test_registry_import import AS_OF

    batch = import_registry(region_code=COUNTY, paths=small_export(tmp_path), by=None, as_of=AS_OF)
    client.force_login(county_staff)
    response = getattr(client, method)(reverse(f"exchange:{name}", args=[batch.pk]), {"reason": "试一下"})
    assert response.status_code == 404
    assert ImportBatch.objects.get(pk=batch.pk).status == ImportBatch.Status.SUCCEEDED
    linkage = client.get(reverse("exchange:linkage"), {"batch": batch.pk})
    assert linkage.status_code == 404
