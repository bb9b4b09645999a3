"""Auditors are read-only everywhere: every URL pattern of the project, POSTed to by an auditor, writes nothing.

Every pattern is collected from the resolver (the admin's included). Its arguments are filled with objects of
the auditor's own county, each in a state where the action would succeed for a user allowed to take it (a case
being verified with a signed consent, an elimination awaiting the county, a pending link candidate, …), and it
is POSTed twice: with an empty body and with a body that fills every form field the pages use with valid
values. After each POST the full content of every table is compared with the content before, so an UPDATE that
changes no row count is caught as well as an INSERT or a DELETE.

What an auditor's reading leaves behind is allowed and checked to be only that: audit events of their own
exports (action export), their own report requests and export downloads (queued: the background job
prepares the file later), the failed-login record of the login form and the
session table (logging in and out).
"""

import datetime as dt
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from eligibility.models import CrossCheck, CrossCheckHit, CrossCheckRun
from exchange.api.models import ApiClient, ApiToken, Share, SharedPerson
from exchange.models import ImportBatch, LinkCandidate, RejectedRow
from households.models import Household, IncomeRecord, Person
from povertycloud.accounts.models import Role, User
from povertycloud.audit.models import AuditEvent
from povertycloud.downloads.models import Download
from reports.models import Report
from resources.models import AssistanceMeasure, EliminationCase
from risk.models import RiskCase, RiskModel
from tests.conftest import PASSWORD
from tests.factories import COUNTY, VILLAGE_A, resident_id
from tests.reports.builders import small_county
from tests.resources.builders import batch

pytestmark = pytest.mark.django_db
LOGOUTS = {"accounts:logout", "admin:logout"}
# The site's and the admin's login pages (one view): a failed attempt is written to the audit trail.
LOGINS = {"accounts:login", "admin-login", "admin:login"}
# Changing one's own password changes one's own user row, and nothing else.
OWN_ACCOUNT = {"admin:password_change"}


@dataclass
class Pattern:
    route: str  # the full route, regex parts with their anchors removed
    name: str  # namespaced name, or "" for an unnamed pattern
    kwargs: list[str]


def _clean_regex(text: str) -> str:
    return text.removeprefix("^").removesuffix("$").removesuffix("\\Z")


def url_patterns() -> list[Pattern]:
    found: list[Pattern] = []

    def walk(patterns: list, prefix: str, namespace: str) -> None:
        for item in patterns:
            text = str(item.pattern)
            if item.pattern.__class__.__name__ == "RegexPattern":
                text = _clean_regex(text)
            if isinstance(item, URLResolver):
                walk(item.url_patterns, prefix + text, namespace + (f"{item.namespace}:" if item.namespace else ""))
            elif isinstance(item, URLPattern):
                route = prefix + text
                kwargs = re.findall(r"<(?:\w+:)?(\w+)>", route) + re.findall(r"\(\?P<(\w+)>", route)
                found.append(Pattern(route, namespace + item.name if item.name else "", kwargs))

    walk(get_resolver().url_patterns, "", "")
    return found


def fill(route: str, values: dict[str, Any]) -> str:
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), route)
    path = re.sub(r"\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)", lambda m: str(values[m.group(1)]), path)
    return "/" + path


@dataclass
class County:
    household: Household
    person: Person
    income: IncomeRecord
    measure: AssistanceMeasure
    case: RiskCase
    elimination: EliminationCase
    batch: ImportBatch
    candidate: LinkCandidate
    model: RiskModel
    report: Report
    official: User
    download: Download
    api_client: ApiClient
    api_token: ApiToken
    share: Share
    hit: CrossCheckHit


@pytest.fixture
def county(regions, official_a, auditor) -> County:
    built = small_county()
    household = built.h1
    person = Person.objects.get(household=household, relation="01")
    case = RiskCase.objects.create(
        household=built.h5,
        region_code=built.h5.village_id,
        status=RiskCase.Status.VERIFYING,
        opened_on=timezone.localdate() - dt.timedelta(days=5),
        due_on=timezone.localdate() + dt.timedelta(days=10),
        assigned_to=official_a,
        visit_date=timezone.localdate(),
        consent_signed=True,
        visit_notes="已入户",
    )
    elimination = EliminationCase.objects.create(
        household=household,
        region_code=household.village_id,
        status=EliminationCase.Status.TOWNSHIP_APPROVED,
        method=EliminationCase.Method.ASSISTED,
        visit_date=timezone.localdate(),
        application_reason="收入稳定",
        applied_at=timezone.now(),
        notice_from=timezone.localdate() - dt.timedelta(days=9),
        notice_to=timezone.localdate() - dt.timedelta(days=2),
    )
    source = batch("civil_affairs")
    RejectedRow.objects.create(batch=source, row_number=1, values={"姓名": "张三"}, reasons=["证件号码有误"])
    candidate = LinkCandidate.objects.create(
        department="civil_affairs",
        id_number=person.id_number[:-1] + "0",
        record_name=person.name,
        record_id=1,
        batch=source,
        person=person,
        matches="substitution",
        region_code=household.village_id,
    )
    model = RiskModel.objects.create(
        version="read-only-test",
        target=RiskModel.Target.POOR_NOW,
        kind=RiskModel.Kind.LOGISTIC,
        data_cutoff=dt.date(2024, 12, 31),
        artifact=b"not a model",
    )
    report = Report.objects.create(
        region_id=COUNTY,
        period_start=dt.date(2024, 1, 1),
        period_end=dt.date(2024, 12, 31),
        requested_by=auditor,
    )
    api_client = ApiClient.objects.create(
        name="县医保局", department="health", region_id=COUNTY, scopes=["push:health", "pull:health_premium"]
    )
    api_token = ApiToken.objects.create(
        client=api_client, prefix="pc_00000000", digest="0" * 64, expires_at=timezone.now() + dt.timedelta(days=30)
    )
    share = Share.objects.create(
        client=api_client, token=api_token, endpoint="/api/v1/pull/health_premium/", dataset="health_premium",
        purpose="参保资助", fields=["id_number", "name"], region_code=COUNTY, person_count=1,
    )
    SharedPerson.objects.create(
        share=share, person_id=person.pk, household_id=household.pk, region_code=household.village_id
    )
    check = CrossCheck.objects.create(
        code="member-vehicle", name="成员名下有机动车", subject="members", department="ps_vehicles",
        condition="value_in", field="vehicle_type", values="K3", outcome="exit_review",
    )
    run = CrossCheckRun.objects.create(county_code=COUNTY, as_of=timezone.localdate(), hits_found=1, hits_new=1)
    hit = CrossCheckHit.objects.create(
        cross_check=check, first_run=run, last_run=run, township_code=household.village_id[:9] + "000",
        region_code=household.village_id, household=household, person=person, id_number=person.id_number,
        name=person.name, evidence_department="ps_vehicles", evidence_record_id=1, evidence_batch=source,
    )
    return County(
        hit=hit,
        api_client=api_client,
        api_token=api_token,
        share=share,
        household=household,
        person=person,
        income=IncomeRecord.objects.get(household=household, year=2024),
        measure=AssistanceMeasure.objects.filter(household=household).first(),
        case=case,
        elimination=elimination,
        batch=source,
        candidate=candidate,
        model=model,
        report=report,
        official=official_a,
        download=Download.objects.create(
            kind="reports.export", requested_by=auditor, region_code=COUNTY, parameters={"kind": "households"}
        ),
    )


PK_BY_ROUTE = (
    ("households/", "household"),
    ("resources/households/", "household"),
    ("risk/cases/", "case"),
    ("risk/models/", "model"),
    ("departments/batches/", "batch"),
    ("departments/registry/", "batch"),
    ("departments/linkage/candidates/", "candidate"),
    ("reports/performance/", "report"),
    ("downloads/", "download"),
    ("departments/api/clients/", "api_client"),
    ("departments/api/shares/", "share"),
    ("departments/api/persons/", "person"),
    ("admin/exchange/apiclient/", "api_client"),
    ("admin/exchange/apitoken/", "api_token"),
    ("eligibility/hits/", "hit"),
)


def arguments(pattern: Pattern, county: County) -> dict[str, Any]:
    """A value for every argument of the pattern; an argument this test does not know fails it."""
    values: dict[str, Any] = {}
    for kwarg in pattern.kwargs:
        if kwarg == "pk":
            owner = next((attr for prefix, attr in PK_BY_ROUTE if pattern.route.startswith(prefix)), None)
            if owner is None:
                raise LookupError(f"{pattern.route}: which object is <pk>? Add its prefix to PK_BY_ROUTE.")
            values[kwarg] = getattr(county, owner).pk
        elif kwarg == "object_id" and "content_type_id" in pattern.kwargs:
            values[kwarg] = county.household.pk
        elif kwarg in ("object_id", "id") and pattern.route.startswith("admin/"):
            app_label, model_name = pattern.route.split("/")[1:3]
            model = apps.get_model(app_label, model_name)
            values[kwarg] = getattr(model._base_manager.order_by("pk").first(), "pk", 0)
        elif kwarg == "content_type_id":
            values[kwarg] = ContentType.objects.get_for_model(Household).pk
        else:
            known = {
                "person_pk": county.person.pk,
                "year": county.income.year,
                "measure_pk": county.measure.pk,
                "field": "id_number",  # the admin's reveal of one sensitive value
                "case_pk": county.elimination.pk,
                "name": "performance.xlsx",
                "app_label": "households",
                "url": "households/household/",
                "path": "",
                "code": COUNTY,  # the county whose review quota the page edits
                "id": county.batch.pk,  # the department API's batch (a session is no API credential)
                "dataset": "health_premium",
            }
            if kwarg not in known:
                raise LookupError(f"{pattern.route}: no value for <{kwarg}>.")
            values[kwarg] = known[kwarg]
    return values


def everything(county: County) -> dict[str, Any]:
    """Valid values for the fields of every form of the project's pages and the admin."""
    today = timezone.localdate()
    day = today.isoformat()
    return {
        # Decisions, reviews and verifications
        "reason": "审计人员提交",
        "decision": "approve",
        "approve": "1",
        "notes": "已入户核实",
        "note": "说明",
        "visit_date": day,
        "consent_signed": "on",
        "monitoring_type": "2",
        "risk_types": ["07"],
        "method": "assisted",
        "notice_from": (today - dt.timedelta(days=9)).isoformat(),
        "notice_to": (today - dt.timedelta(days=2)).isoformat(),
        "official": county.official.pk,
        "seed": "1",
        # Household file, members and income
        "version": "1",
        "number": "522634101200999001",
        "village": VILLAGE_A,
        "village_id": VILLAGE_A,
        "group_name": "一组",
        "household_type": "2",
        "housing_grade": "A",
        "safe_drinking_water": "on",
        "road_to_door": "on",
        "id_number": resident_id(dt.date(1990, 1, 1), sex="2"),
        "name": "审计",
        "relation": "02",
        "sex": "2",
        "birth_date": "1990-01-01",
        "ethnicity": "01",
        "health": ["1"],
        "labour_skill": "1",
        "education": "3",
        "resident_medical_insurance": "on",
        "year": "2025",
        "household_size": "3",
        "wage_income": "30000",
        "field": "phone",
        "person": county.person.pk,
        # Assistance
        "category": "02",
        "subtype": "0204",
        "amount": "1000",
        "funding_source": "衔接资金",
        "start_date": day,
        "status": "implemented",
        # Department data and linkage
        "department": "civil_affairs",
        "region": COUNTY,
        "encoding": "",
        # Reports and exports
        "start": "2024-01-01",
        "end": "2024-12-31",
        "kind": "households",
        "include_sensitive": "1",
        "full_ids": "1",
        # The admin: a confirmed bulk delete, save buttons, passwords
        "action": "delete_selected",
        "_selected_action": [str(county.household.pk)],
        "post": "yes",
        "index": "0",
        "_save": "保存",
        "password1": "Another-pass-2026",
        "password2": "Another-pass-2026",
        "old_password": PASSWORD,
        "new_password1": "Another-pass-2026",
        "new_password2": "Another-pass-2026",
        "language": "en",
        "next": "/",
    }


def _plain(value: Any) -> Any:
    return bytes(value) if isinstance(value, memoryview) else value


def _digest(queryset) -> tuple[int, str]:
    digest = hashlib.sha256()
    count = 0
    for row in queryset.order_by("pk").values_list().iterator():
        digest.update(repr(tuple(_plain(v) for v in row)).encode())
        count += 1
    return count, digest.hexdigest()


def table_digest(model) -> tuple[int, str]:
    return _digest(model._base_manager.all())


CONTENT_CHECKED = [m for m in apps.get_models() if m not in (Session, AuditEvent, Report, Download)]


def snapshot() -> dict[str, tuple[int, str]]:
    state = {m._meta.label: table_digest(m) for m in CONTENT_CHECKED}
    state["audit.AuditEvent (existing rows)"] = table_digest(AuditEvent)
    state["reports.Report (existing rows)"] = table_digest(Report)
    state["downloads.Download (existing rows)"] = table_digest(Download)
    return state


@dataclass
class Baseline:
    state: dict[str, tuple[int, str]]
    last_event: int
    last_report: int
    others_users: tuple[int, str]
    last_download: int = 0


def baseline(auditor: User | None = None) -> Baseline:
    return Baseline(
        state=snapshot(),
        others_users=_digest(User._base_manager.exclude(pk=getattr(auditor, "pk", None))),
        last_event=AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0,
        last_report=Report.objects.order_by("-pk").values_list("pk", flat=True).first() or 0,
        last_download=Download.objects.order_by("-pk").values_list("pk", flat=True).first() or 0,
    )


def writes_since(before: Baseline, auditor: User, pattern: Pattern) -> list[str]:
    """What changed besides the records of the auditor's own reading."""
    problems = []
    new_events = AuditEvent.objects.filter(pk__gt=before.last_event)
    for event in new_events:
        reading = (AuditEvent.Action.EXPORT, AuditEvent.Action.REVEAL)  # a reveal is a read, audited
        own_password = (
            pattern.name in OWN_ACCOUNT and event.entity == "accounts.user" and event.object_pk == str(auditor.pk)
        )
        allowed = (event.actor_id == auditor.pk and event.action in reading) or own_password or (
            pattern.name in LOGINS and event.action == AuditEvent.Action.LOGIN_FAILED
        )
        if not allowed:
            problems.append(f"audit event {event.action} {event.entity} by {event.actor_username}")
    for report in Report.objects.filter(pk__gt=before.last_report):
        if report.requested_by_id != auditor.pk or report.status != Report.Status.QUEUED:
            problems.append(f"report #{report.pk} {report.status}")
    for download in Download.objects.filter(pk__gt=before.last_download):
        if download.requested_by_id != auditor.pk or download.status != Download.Status.QUEUED:
            problems.append(f"download #{download.pk} {download.status}")
    after = _snapshot_without_new(before)
    if pattern.name in OWN_ACCOUNT:
        others = User._base_manager.exclude(pk=auditor.pk)
        after["accounts.User"] = _digest(others)
        before_users = before.others_users
    else:
        before_users = before.state["accounts.User"]
    problems += [
        f"{label} changed"
        for label, value in after.items()
        if (before_users if label == "accounts.User" else before.state[label]) != value
    ]
    return problems


def _snapshot_without_new(before: Baseline) -> dict[str, tuple[int, str]]:
    state = {m._meta.label: table_digest(m) for m in CONTENT_CHECKED}

    state["audit.AuditEvent (existing rows)"] = _digest(AuditEvent._base_manager.filter(pk__lte=before.last_event))
    state["reports.Report (existing rows)"] = _digest(Report._base_manager.filter(pk__lte=before.last_report))
    state["downloads.Download (existing rows)"] = _digest(
        Download._base_manager.filter(pk__lte=before.last_download)
    )
    return state


def ordered(patterns: list[Pattern]) -> Iterator[Pattern]:
    """Logging out last: after it the auditor is no longer logged in."""
    yield from (p for p in patterns if p.name not in LOGOUTS)
    yield from (p for p in patterns if p.name in LOGOUTS)


def post_everywhere(client, auditor: User, county: County) -> tuple[list[str], dict[str, int]]:
    client.force_login(auditor)
    failures: list[str] = []
    statuses: dict[str, int] = {}
    patterns = url_patterns()
    assert len(patterns) > 150  # the admin's patterns are there too
    body = everything(county)
    for pattern in ordered(patterns):
        try:
            path = fill(pattern.route, arguments(pattern, county))
        except LookupError as error:
            failures.append(str(error))
            continue
        for data in ({}, body):
            before = baseline(auditor)
            try:
                response = client.post(path, data)
            except Exception as error:  # a server error: the view must refuse, not fail
                failures.append(f"POST {path}: {type(error).__name__}: {error}")
                continue
            statuses[f"{pattern.name or pattern.route} {'empty' if not data else 'filled'}"] = response.status_code
            if response.status_code >= 500:
                failures.append(f"POST {path}: status {response.status_code}")
            for problem in writes_since(before, auditor, pattern):
                failures.append(f"POST {path} ({'empty' if not data else 'filled'} form): {problem}")
            if pattern.name in LOGOUTS:
                client.force_login(auditor)
    return failures, statuses


ACTIONS = {
    "households:edit",
    "households:member_add",
    "households:member_edit",
    "households:member_remove",
    "households:income_add",
    "households:income_edit",
    "households:import",
    "households:import_confirm",
    "risk:assign",
    "risk:visit",
    "risk:decide",
    "risk:exclude",
    "risk:refresh",
    "risk:train",
    "risk:activate",
    "resources:measure_add",
    "resources:measure_edit",
    "resources:measure_remove",
    "resources:observe",
    "resources:elimination_apply",
    "resources:elimination_township",
    "resources:elimination_county",
    "exchange:upload",
    "exchange:linkage_refresh",
    "exchange:confirm",
    "exchange:dismiss",
    "households:reveal",
}


def test_an_auditor_posting_to_every_url_writes_nothing(client, county, auditor):
    failures, statuses = post_everywhere(client, auditor, county)
    assert failures == [], "\n".join(failures)
    # The actions themselves say no (403), whatever the auditor sends.
    refused = {key: code for key, code in statuses.items() if key.split(" ")[0] in ACTIONS}
    assert len(refused) == 2 * len(ACTIONS)
    assert {key: code for key, code in refused.items() if code not in (403, 404, 405)} == {}


def test_an_auditor_with_admin_access_and_every_permission_writes_nothing_either(client, county, regions):
    auditor = User.objects.create_user(
        "staff_auditor",
        password=PASSWORD,
        role=Role.AUDITOR,
        region_id=COUNTY,
        is_staff=True,
        sensitive_data_access=True,
    )
    auditor.user_permissions.set(Permission.objects.all())
    Group.objects.create(name="核查组")
    failures, statuses = post_everywhere(client, auditor, county)
    assert failures == [], "\n".join(failures)
    admin_writes = {
        key: code
        for key, code in statuses.items()
        if key.startswith("admin:") and key.split(" ")[0].endswith(("_add", "_change", "_delete")) and "filled" in key
    }
    assert admin_writes and all(code in (302, 403, 404) for code in admin_writes.values()), admin_writes


def test_the_comparison_sees_an_update_that_changes_no_row_count(county, auditor):
    pattern = Pattern("households/", "households:list", [])
    before = baseline()
    Household.objects.filter(pk=county.household.pk).update(group_name="二组")
    assert writes_since(before, auditor, pattern) == ["households.Household changed"]


def test_the_comparison_sees_an_audit_event_that_is_not_the_auditors_own_export(county, auditor):
    pattern = Pattern("households/", "households:list", [])
    before = baseline()
    AuditEvent.objects.create(actor=auditor, actor_username="auditor", action="update", entity="x")
    assert writes_since(before, auditor, pattern) == ["audit event update x by auditor"]
