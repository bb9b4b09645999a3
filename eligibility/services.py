"""Running the eligibility cross-checks (比对) over a county, and verifying their hits.

``run_cross_checks(*, county_code, as_of, by, progress=None) -> CrossCheckRun``
    Every active CrossCheck over one county: the subjects (registry members, monitored or assisted members,
    assistance measures, a department's payment list) are read with one query each, the evidence department's
    records with one query per department, and the condition is applied in pandas. A hit is written per
    (check, ID number, evidence record, payment); one found again has its ``last_run`` moved on and keeps its
    decision; one no longer found stays, as history, and the run says how many (and which) were not seen again.
    A check that cannot run as declared (an undeclared department, a missing field) is skipped with its reasons.
    ``run.by_check`` is ``{code: {"name", "found", "new", "not_seen", "not_seen_ids"}}`` for a check that ran
    and ``{code: {"name", "skipped": [reasons]}}`` for one that did not. ``progress(done, total, check name)`` is
    called before each check and at the end.

``start_run`` / ``execute_run``
    The two halves of a run: the run row (what a page queues, eligibility.tasks), then the work into it.

``confirm_hit(*, hit, by, note="")``, ``dismiss_hit(*, hit, by, reason)``, ``may_verify(user, hit)``
    An official of the hit's township, county staff of its county or an administrator decides a pending hit,
    once (UPDATE … WHERE status = 'pending': whoever comes second gets AlreadyDecided), audited. A confirmed hit
    carries the check's outcome (exit review, payment recovery) for people to carry out: nothing here changes a
    household, a member or a measure.

``read_progress(run_id)``
    What a queued or running run has done, from the cache a page polls: {"done", "total", "stage", "check"}.
"""

import datetime as dt
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models.fields.json import KT
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from eligibility.checks import check_cross_check, value_list
from eligibility.models import CrossCheck, CrossCheckHit, CrossCheckRun
from exchange.declarations import COLUMN_FIELDS, Department, Kind, get_department
from households.models import Code, Person
from households.validation import HOUSEHOLD_LIFTED
from povertycloud.accounts.models import Role
from povertycloud.accounts.permissions import role_of
from povertycloud.audit.services import record_event
from povertycloud.db import ProcessLock
from povertycloud.regions.models import Region
from povertycloud.regions.scoping import code_range, is_active_user, user_may_see_code
from resources.models import AssistanceMeasure

Subject, Condition, Status = CrossCheck.Subject, CrossCheck.Condition, CrossCheckHit.Status
Progress = Callable[[int, int, str], None]

COUNTY_DIGITS, TOWNSHIP_DIGITS = 6, 9
LOCK_NAMESPACE = 4170  # PostgreSQL advisory locks: (namespace, county prefix) while a county's checks run
CHUNK = 2000
NOT_SEEN_LISTED = 500  # ids of hits not seen again kept in the run, per check
SUMMARY_FIELDS = 3  # fields of the evidence record a hit's detail names
PROGRESS_KEY = "crosscheck-progress:{}"
PROGRESS_SECONDS = 24 * 3600
TRUE_TEXTS = frozenset({"true", "t", "1", "1.0", "是", "y", "yes"})
PAYMENT_KIND_MEASURE, PAYMENT_KIND_LIST = "measure", "payment_list"
KEY = ["id_number", "evidence_record_id", "payment_kind", "payment_id"]


class AlreadyDecided(ValidationError):
    """Someone decided the hit first; nothing was changed."""


# --- Progress ------------------------------------------------------------------------------------------


def publish_progress(run_id: int, done: int, total: int, stage: str, check: str = "", error: str = "") -> None:
    value = {"done": done, "total": total, "stage": stage, "check": check}
    if error:
        value["error"] = error
    cache.set(PROGRESS_KEY.format(run_id), value, PROGRESS_SECONDS)


def read_progress(run_id: int) -> dict | None:
    return cache.get(PROGRESS_KEY.format(run_id))


# --- Running the checks --------------------------------------------------------------------------------


def county_of(county_code: str) -> Region:
    """The county a run covers, by its 12-digit code (or its 6 significant digits)."""
    code = str(county_code or "").strip()
    code = code.ljust(12, "0") if len(code) == COUNTY_DIGITS else code
    region = Region.objects.filter(code=code).first()
    if region is None or region.level != Region.Level.COUNTY:
        raise ValueError(_("区划代码 %(code)s 不是一个县。") % {"code": county_code})
    return region


def start_run(*, county_code: str, as_of: dt.date, by: Any) -> CrossCheckRun:
    """The run row, before any check ran (finished_at empty). A person starts a run only as county staff of that
    county or an administrator (a command or the schedule runs as nobody)."""
    county = county_of(county_code)
    if getattr(by, "is_authenticated", False) and not may_run(by, county.code):
        raise PermissionDenied(_("只有本县的县级工作人员和系统管理员可以运行比对。"))
    return CrossCheckRun.objects.create(
        county_code=county.code, as_of=as_of, started_by=by if getattr(by, "is_authenticated", False) else None
    )


def run_cross_checks(*, county_code: str, as_of: dt.date, by: Any, progress: Progress | None = None) -> CrossCheckRun:
    run = start_run(county_code=county_code, as_of=as_of, by=by)
    return execute_run(run=run, by=by, progress=progress)


def execute_run(*, run: CrossCheckRun, by: Any, progress: Progress | None = None) -> CrossCheckRun:
    """Every active check over the run's county, into the run; one county's runs take turns (a lock)."""
    say = progress or (lambda done, total, name: None)
    prefix = run.county_code[:COUNTY_DIGITS]
    checks = list(CrossCheck.objects.filter(active=True).order_by("code"))
    with ProcessLock(LOCK_NAMESPACE, int(prefix), file_name=f"crosschecks-{prefix}.lock"), translation.override(
        settings.LANGUAGE_CODE
    ):
        reader = _Reader(prefix=prefix, as_of=run.as_of)
        by_check: dict[str, dict] = {}
        with transaction.atomic():
            _short_queries()
            for number, check in enumerate(checks):
                say(number, len(checks), check.name)
                errors = check_cross_check(check, departments=reader.departments)
                if errors:
                    by_check[check.code] = {"name": check.name, "skipped": errors}
                    continue
                found = _hits_of(check, reader)
                by_check[check.code] = {"name": check.name, **_write_hits(check, found, run, prefix)}
            counted = [v for v in by_check.values() if "skipped" not in v]
            run.hits_found = sum(v["found"] for v in counted)
            run.hits_new = sum(v["new"] for v in counted)
            run.by_check = by_check
            run.finished_at = timezone.now()
            run.save(update_fields=["hits_found", "hits_new", "by_check", "finished_at"])
            record_event(
                actor=by,
                action="create",
                entity=CrossCheckRun._meta.label_lower,
                object_pk=run.pk,
                object_repr=str(run),
                region_code=run.county_code,
                changes={
                    "as_of": run.as_of.isoformat(),
                    "hits_found": run.hits_found,
                    "hits_new": run.hits_new,
                    "by_check": {
                        code: {k: v for k, v in values.items() if k != "not_seen_ids"}
                        for code, values in by_check.items()
                    },
                },
                note=_("资格比对：%(checks)s 条规则，发现疑点 %(found)s 条，新增 %(new)s 条")
                % {"checks": len(checks), "found": run.hits_found, "new": run.hits_new},
            )
        say(len(checks), len(checks), "")
    return run


def _short_queries() -> None:
    """A run's queries are a few dozen index walks and hash joins: with PostgreSQL's default jit_above_cost some
    were compiled for longer than they ran (as exchange.quality found). SET LOCAL holds until the run's
    transaction ends."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")


def not_seen_again(run: CrossCheckRun):
    """Hits of the county, of the checks that ran, that this run did not find again (history)."""
    ran = [code for code, values in (run.by_check or {}).items() if "skipped" not in values]
    first, last = code_range(run.county_code[:COUNTY_DIGITS])
    return CrossCheckHit.objects.filter(
        cross_check__code__in=ran, region_code__gte=first, region_code__lte=last, last_run_id__lt=run.pk
    )


def township_of(codes: pd.Series) -> pd.Series:
    """A village's (or any 12-digit code's) township: its first 9 digits and 000."""
    codes = codes.fillna("").astype(str)
    return codes.str[:TOWNSHIP_DIGITS].str.ljust(TOWNSHIP_DIGITS, "0") + "000"


class _Reader:
    """The county's tables the checks read, each read once a run (one query each)."""

    def __init__(self, *, prefix: str, as_of: dt.date):
        self.prefix, self.as_of = prefix, as_of
        self.first, self.last = code_range(prefix)
        self._cache: dict[Any, pd.DataFrame] = {}
        self.departments: dict[str, Department | None] = {}  # read once a run, by slug (None: not declared)

    def department(self, slug: str) -> Department:
        if self.departments.get(slug) is None:
            self.departments[slug] = get_department(slug)
        return self.departments[slug]

    # The registry side -----------------------------------------------------------------------------

    def members(self) -> pd.DataFrame:
        """Present members of the county's households, with their household's type and monitoring type."""
        if "members" not in self._cache:
            rows = Person.objects.filter(
                household__village_id__gte=self.first, household__village_id__lte=self.last
            ).values_list(
                "id", "id_number", "name", "household_id", "household__village_id", "household__household_type",
                "household__monitoring_type",
            )
            frame = pd.DataFrame(
                list(rows),
                columns=["person_id", "id_number", "name", "household_id", "region_code", "household_type",
                         "monitoring_type"],
            )
            assisted = set(
                AssistanceMeasure.objects.filter(
                    household__village_id__gte=self.first, household__village_id__lte=self.last,
                    start_date__lte=self.as_of,
                ).values_list("household_id", flat=True).distinct()
            )
            frame["assisted"] = frame["household_id"].isin(assisted)
            self._cache["members"] = frame
        return self._cache["members"]

    def subjects(self, subject: str) -> pd.DataFrame:
        members = self.members()
        if subject == Subject.MEMBERS:
            chosen = (members["household_type"] == HOUSEHOLD_LIFTED) | (members["monitoring_type"] != "")
        elif subject == Subject.MONITORED:
            chosen = members["monitoring_type"] != ""
        else:
            chosen = members["assisted"]
        frame = members.loc[chosen, ["person_id", "id_number", "name", "household_id", "region_code"]].copy()
        frame["payment_kind"], frame["payment_id"] = "", 0
        frame["payment_date"], frame["amount"] = pd.NaT, np.nan
        return frame

    def measures(self) -> pd.DataFrame:
        """Measures with an amount paid to a member (present or not) of the county's households, started by as_of."""
        if "measures" not in self._cache:
            rows = AssistanceMeasure.objects.filter(
                household__village_id__gte=self.first, household__village_id__lte=self.last,
                person__isnull=False, amount__gt=0, start_date__lte=self.as_of,
            ).values_list(
                "id", "person_id", "person__id_number", "person__name", "household_id", "household__village_id",
                "start_date", "amount",
            )
            frame = pd.DataFrame(
                list(rows),
                columns=["payment_id", "person_id", "id_number", "name", "household_id", "region_code",
                         "payment_date", "amount"],
            )
            frame["payment_kind"] = PAYMENT_KIND_MEASURE
            frame["payment_date"] = pd.to_datetime(frame["payment_date"])
            frame["amount"] = frame["amount"].astype(float)
            self._cache["measures"] = frame
        return self._cache["measures"]

    def payments(self, check: CrossCheck) -> pd.DataFrame:
        """A payment list's payments in the county made by as_of: every standing version (each period's payment),
        the latest version of a person's period when one was corrected."""
        key = ("payments", check.payment_department, check.payment_date_field, check.payment_amount_field)
        if key not in self._cache:
            department = self.department(check.payment_department)
            fields = [check.payment_date_field, check.payment_amount_field]
            frame = self.records(department, fields, current=False, with_household=True)
            frame = frame.sort_values(["id_number", "period", "valid_from", "record_id"])
            frame = frame.drop_duplicates(["id_number", "period"], keep="last")
            frame = frame.rename(
                columns={
                    "record_id": "payment_id",
                    f"f_{check.payment_date_field}": "payment_date",
                    f"f_{check.payment_amount_field}": "amount",
                    "batch_id": "payment_batch",
                }
            )
            frame["payment_date"] = _dates(frame["payment_date"])
            frame["amount"] = pd.to_numeric(frame["amount"], errors="coerce")
            frame = frame[frame["payment_date"].notna() & (frame["payment_date"] <= pd.Timestamp(self.as_of))]
            # A payee linked to a member is placed in the member's village, any other where the record says.
            linked = frame["household_region"] != ""
            frame["region_code"] = frame["household_region"].where(linked, frame["region_code"])
            frame["person_id"] = frame["record_person_id"].replace(0, np.nan)
            frame["payment_kind"] = PAYMENT_KIND_LIST
            self._cache[key] = frame.reset_index(drop=True)
        return self._cache[key]

    # The department side ---------------------------------------------------------------------------

    def records(
        self, department: Department, fields: Iterable[str], *, current: bool = True, with_household: bool = False
    ) -> pd.DataFrame:
        """A department's standing records of the county (current ones only, unless current=False): one query,
        each wanted field as a column f_<field> (a declared field read from the JSON as text)."""
        fields = sorted({f for f in fields if f})
        key = ("records", department.slug, tuple(fields), current, with_household)
        if key in self._cache:
            return self._cache[key]
        queryset = department.records().filter(region_code__startswith=self.prefix)
        if current:
            queryset = queryset.filter(valid_to__isnull=True)
        paths = ["id", "batch_id", "id_number", "name", "person_id", "region_code", "period", "valid_from"]
        columns = ["record_id", "batch_id", "id_number", "record_name", "record_person_id", "region_code", "period",
                   "valid_from"]
        if with_household:
            paths += ["person__household_id", "person__household__village_id"]
            columns += ["household_id", "household_region"]
        annotations = {}
        for name in fields:
            if department.declared_as_data and name not in COLUMN_FIELDS:
                annotations[f"f_{name}"] = KT(f"data__{name}")
                paths.append(f"f_{name}")
            else:
                paths.append(name)  # a typed record's own field, or id_number / name / period
            columns.append(f"f_{name}")
        rows = queryset.annotate(**annotations).values_list(*paths)
        frame = pd.DataFrame(list(rows), columns=columns)
        frame["record_person_id"] = frame["record_person_id"].fillna(0).astype(np.int64)
        if with_household:
            frame["household_id"] = frame["household_id"].fillna(0).astype(np.int64)
            frame["household_region"] = frame["household_region"].fillna("").astype(str)
        self._cache[key] = frame
        return frame

    def registry_ids(self, id_numbers: Iterable[str]) -> set[str]:
        """Which of these ID numbers belong to anyone in the registry (members who left included), any county."""
        wanted, found = sorted(set(id_numbers)), set()
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start : start + CHUNK]
            found.update(Person.everyone.filter(id_number__in=chunk).values_list("id_number", flat=True))
        return found


def _dates(values: pd.Series) -> pd.Series:
    if values.empty:
        return pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    return pd.to_datetime(values.astype("string").str[:10], errors="coerce", format="ISO8601")


def _text(value: Any) -> str:
    """A value as the text a user writes in a check's list: 1 (not 1.0), K3, true."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float | Decimal) and value == int(value):
        return str(int(value))
    return str(value).strip()


def _texts(values: pd.Series) -> pd.Series:
    return values.map(_text)


def _hits_of(check: CrossCheck, reader: _Reader) -> pd.DataFrame:
    """The hits of one check: a row per subject × evidence record that meets the condition, with the columns of
    CrossCheckHit."""
    department = reader.department(check.department)
    condition = check.condition
    if condition == Condition.NOT_IN_REGISTRY:
        payments = reader.payments(check)
        unlinked = payments[payments["record_person_id"] == 0]
        known = reader.registry_ids(unlinked["id_number"])
        hits = unlinked[~unlinked["id_number"].isin(known)].copy()
        hits["evidence_record_id"], hits["evidence_batch_id"] = hits["payment_id"], hits["payment_batch"]
        hits["name"] = hits["record_name"]
        return _finish(check, hits, department, reader)

    if check.subject in {Subject.MEMBERS, Subject.MONITORED, Subject.ASSISTED}:
        subjects = reader.subjects(check.subject)
    elif check.subject == Subject.MEASURES:
        subjects = reader.measures()
    else:
        subjects = reader.payments(check)[
            ["person_id", "id_number", "record_name", "household_id", "region_code", "payment_kind", "payment_id",
             "payment_date", "amount"]
        ].rename(columns={"record_name": "name"})
    records = reader.records(department, [check.field])
    evidence = records[["record_id", "batch_id", "id_number"] + ([f"f_{check.field}"] if check.field else [])]
    evidence = evidence.rename(columns={"record_id": "evidence_record_id", "batch_id": "evidence_batch_id"})
    hits = subjects.merge(evidence, on="id_number", how="inner")
    if condition == Condition.VALUE_IN:
        hits = hits[_texts(hits[f"f_{check.field}"]).isin(value_list(check))]
    elif condition == Condition.VALUE_GTE:
        values = pd.to_numeric(hits[f"f_{check.field}"], errors="coerce")
        hits = hits[values >= float(check.threshold)]
    elif condition == Condition.FLAG_TRUE:
        hits = hits[_texts(hits[f"f_{check.field}"]).str.lower().isin(TRUE_TEXTS)]
    elif condition == Condition.PAID_AFTER_DATE:
        hits = hits[hits["payment_date"] > _dates(hits[f"f_{check.field}"])]
    return _finish(check, hits.copy(), department, reader)


def _finish(check: CrossCheck, hits: pd.DataFrame, department: Department, reader: _Reader) -> pd.DataFrame:
    hits = hits.drop_duplicates(KEY).reset_index(drop=True)
    hits["township_code"] = township_of(hits["region_code"])
    hits["detail"] = _details(check, hits, department, reader) if len(hits) else pd.Series(dtype=str)
    return hits


# --- What a hit says, in plain words --------------------------------------------------------------------


def _details(check: CrossCheck, hits: pd.DataFrame, department: Department, reader: _Reader) -> list[str]:
    """One sentence per hit, e.g. "死亡日期 2025-08-03，帮扶措施开始于 2025-10-01"."""
    condition = check.condition
    if condition == Condition.PAID_AFTER_DATE:
        label = _label(department, check.field)
        dates = _dates(hits[f"f_{check.field}"]).dt.strftime("%Y-%m-%d").fillna("")
        paid = hits["payment_date"].dt.strftime("%Y-%m-%d").fillna("")
        if check.subject == Subject.MEASURES:
            return [
                _("%(label)s %(date)s，帮扶措施开始于 %(paid)s") % {"label": label, "date": d, "paid": p}
                for d, p in zip(dates, paid, strict=True)
            ]
        payments = str(reader.department(check.payment_department).name)
        return [
            _("%(label)s %(date)s，%(payments)s的发放日期为 %(paid)s")
            % {"label": label, "date": d, "payments": payments, "paid": p}
            for d, p in zip(dates, paid, strict=True)
        ]
    if condition == Condition.NOT_IN_REGISTRY:
        paid = hits["payment_date"].dt.strftime("%Y-%m-%d").fillna("")
        return [
            _("户档案中没有此人；%(payments)s的发放日期为 %(paid)s，金额 %(amount)s 元")
            % {"payments": str(department.name), "paid": p, "amount": _amount(a)}
            for p, a in zip(paid, hits["amount"], strict=True)
        ]
    summaries = _summaries(department, hits["evidence_record_id"].tolist(), first=check.field)
    name = str(department.name)
    return [
        _("%(department)s：%(summary)s") % {"department": name, "summary": summaries.get(int(r), "")}
        if summaries.get(int(r))
        else _("%(department)s有当前记录") % {"department": name}
        for r in hits["evidence_record_id"]
    ]


def _amount(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return f"{float(value):,.2f}".removesuffix(".00")


def _label(department: Department, name: str) -> str:
    from exchange.feeds.declare import field_label

    return field_label(department, name)


def _summaries(department: Department, record_ids: list[int], *, first: str = "") -> dict[int, str]:
    """Each evidence record in a few labelled values ("车辆类型 小型汽车（K3），号牌号码 黔H12345"), read in chunks
    of ids (a query per chunk, never per record)."""
    specs = [s for s in department.fields if s.name not in {"id_number", "name", "period"}]
    specs.sort(key=lambda s: s.name != first)
    specs = specs[:SUMMARY_FIELDS]
    if not specs:
        return {}
    codesets = {s.codeset for s in specs if s.kind == Kind.CODE and s.codeset}
    labels = {
        (codeset, code): label
        for codeset, code, label in Code.objects.filter(codeset_id__in=codesets).values_list(
            "codeset_id", "code", "label"
        )
    }
    summaries: dict[int, str] = {}
    ids = sorted(set(record_ids))
    for start in range(0, len(ids), CHUNK):
        for record in department.records().filter(pk__in=ids[start : start + CHUNK]):
            parts = []
            for spec in specs:
                value = department.value(record, spec.name)
                if value in (None, ""):
                    continue
                text = _text(value)
                if spec.kind == Kind.FLAG:
                    text = _("是") if text.lower() in TRUE_TEXTS else _("否")
                elif spec.kind == Kind.CODE and (spec.codeset, text) in labels:
                    text = f"{labels[(spec.codeset, text)]}（{text}）"
                elif spec.kind == Kind.AMOUNT:
                    text = _("%(amount)s 元") % {"amount": _amount(value)}
                parts.append(f"{_label(department, spec.name)} {text}")
            summaries[record.pk] = "，".join(parts)
    return summaries


# --- Writing the hits ----------------------------------------------------------------------------------


def _write_hits(check: CrossCheck, hits: pd.DataFrame, run: CrossCheckRun, prefix: str) -> dict:
    """New hits created, hits found again moved to this run (their decision kept); counts and the hits of the
    county not seen again."""
    first, last = code_range(prefix)
    existing = {
        (number, record, kind, payment): pk
        for pk, number, record, kind, payment in CrossCheckHit.objects.filter(
            cross_check=check, region_code__gte=first, region_code__lte=last
        ).values_list("id", *KEY)
    }
    keys = [
        (str(n), int(r), str(k), int(p))
        for n, r, k, p in zip(
            hits["id_number"], hits["evidence_record_id"], hits["payment_kind"], hits["payment_id"], strict=True
        )
    ]
    seen = {existing[key] for key in keys if key in existing}
    missing = [i for i, key in enumerate(keys) if key not in existing]
    # A hit kept elsewhere (its person's village moved out of the county since) is the same hit.
    outside = _existing_outside(check, [keys[i] for i in missing])
    seen.update(outside.values())
    new_rows = [i for i in missing if keys[i] not in outside]
    for start in range(0, len(seen), CHUNK):
        chunk = sorted(seen)[start : start + CHUNK]
        CrossCheckHit.objects.filter(pk__in=chunk).update(last_run=run)
    rows = hits.iloc[new_rows].to_dict("records") if new_rows else []
    CrossCheckHit.objects.bulk_create([_hit(check, row, run) for row in rows], batch_size=1000)
    not_seen = sorted(set(existing.values()) - seen)
    return {
        "found": len(keys),
        "new": len(new_rows),
        "not_seen": len(not_seen),
        "not_seen_ids": not_seen[:NOT_SEEN_LISTED],
    }


def _existing_outside(check: CrossCheck, keys: list[tuple]) -> dict[tuple, int]:
    found: dict[tuple, int] = {}
    records = sorted({key[1] for key in keys})
    wanted = set(keys)
    for start in range(0, len(records), CHUNK):
        rows = CrossCheckHit.objects.filter(
            cross_check=check, evidence_record_id__in=records[start : start + CHUNK]
        ).values_list("id", *KEY)
        for pk, *key in rows:
            if tuple(key) in wanted:
                found[tuple(key)] = pk
    return found


def _hit(check: CrossCheck, row: dict[str, Any], run: CrossCheckRun) -> CrossCheckHit:
    def whole(value) -> int | None:
        return None if value is None or pd.isna(value) or int(value) == 0 else int(value)

    amount = row.get("amount")
    payment_date = row.get("payment_date")
    return CrossCheckHit(
        cross_check=check,
        first_run=run,
        last_run=run,
        township_code=row["township_code"],
        region_code=row["region_code"],
        household_id=whole(row.get("household_id")),
        person_id=whole(row.get("person_id")),
        id_number=row["id_number"],
        name=str(row.get("name") or "")[:50],
        evidence_department=check.department,
        evidence_record_id=int(row["evidence_record_id"]),
        evidence_batch_id=int(row["evidence_batch_id"]),
        payment_kind=row["payment_kind"],
        payment_id=int(row["payment_id"]),
        payment_date=None if payment_date is None or pd.isna(payment_date) else payment_date.date(),
        amount=None if amount is None or pd.isna(amount) else Decimal(str(round(float(amount), 2))),
        detail=str(row["detail"])[:300],
    )


# --- Verifying a hit -----------------------------------------------------------------------------------


def may_run(user: Any, county_code: str) -> bool:
    """County staff of the county, or an administrator."""
    return role_of(user) in {Role.COUNTY_STAFF, Role.ADMIN} and user_may_see_code(user, county_code)


def may_verify(user: Any, hit: CrossCheckHit) -> bool:
    """An official of the hit's township, county staff of its county, or an administrator (never an auditor)."""
    if not is_active_user(user):
        return False
    role = role_of(user)
    if role == Role.ADMIN:
        return True
    if role not in {Role.TOWNSHIP_OFFICIAL, Role.COUNTY_STAFF}:
        return False
    return user_may_see_code(user, hit.region_code)


def _require(user: Any, hit: CrossCheckHit) -> None:
    if not may_verify(user, hit):
        raise PermissionDenied(_("只有疑点所在乡镇的干部、所在县的工作人员或系统管理员可以核实疑点。"))


def _decide(*, hit: CrossCheckHit, by: Any, status: str, reason: str) -> CrossCheckHit:
    hit = CrossCheckHit.objects.select_related("cross_check").get(pk=hit.pk)
    _require(by, hit)
    outcome = hit.cross_check.outcome if status == Status.CONFIRMED else ""
    with transaction.atomic():
        decided = CrossCheckHit.objects.filter(pk=hit.pk, status=Status.PENDING).update(
            status=status, outcome=outcome, reason=reason, decided_by=by, decided_at=timezone.now()
        )
        if not decided:
            raise AlreadyDecided(_("该疑点已由他人核实，本次未作更改。"), code="already_decided")
        record_event(
            actor=by,
            action="review",
            entity=CrossCheckHit._meta.label_lower,
            object_pk=hit.pk,
            object_repr=str(hit),
            region_code=hit.region_code,
            household_id=hit.household_id,
            changes={
                "status": {"before": Status.PENDING.value, "after": status},
                "outcome": {"before": "", "after": outcome},
                "reason": {"before": "", "after": reason},
            },
            note=str(hit.cross_check.name),
        )
    hit.refresh_from_db()
    return hit


def confirm_hit(*, hit: CrossCheckHit, by: Any, note: str = "") -> CrossCheckHit:
    """The hit is so: it goes to its check's outcome (exit review or payment recovery), for people to act on."""
    return _decide(hit=hit, by=by, status=Status.CONFIRMED, reason=(note or "").strip())


def dismiss_hit(*, hit: CrossCheckHit, by: Any, reason: str) -> CrossCheckHit:
    """The hit is not so (e.g. the vehicle was sold, a namesake): the reason is required."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("排除疑点须说明理由。"), code="reason_required")
    return _decide(hit=hit, by=by, status=Status.DISMISSED, reason=reason)


# --- Declaring checks from a file ----------------------------------------------------------------------

CHECK_FIELDS = (
    "name", "name_en", "description", "subject", "department", "condition", "field", "values", "threshold",
    "payment_department", "payment_date_field", "payment_amount_field", "outcome", "active",
)  # fmt: skip


class CrossCheckError(ValueError):
    """A check that cannot be saved; ``messages`` says every reason."""

    def __init__(self, messages: list[str]):
        super().__init__("；".join(messages))
        self.messages = messages


def save_cross_check(*, values: dict[str, Any], by: Any) -> tuple[CrossCheck, bool]:
    """Create the check of that code, or update it; refused with every reason; audited. (check, created)."""
    from povertycloud.audit.services import diff, snapshot

    code = str(values.get("code") or "").strip()
    if not code:
        raise CrossCheckError([_("请填写比对代码。")])
    with transaction.atomic():
        check = CrossCheck.objects.select_for_update().filter(code=code).first()
        created = check is None
        before = {} if created else snapshot(check)
        check = check or CrossCheck(code=code)
        for name in CHECK_FIELDS:
            if name in values:
                value = values[name]
                if name == "threshold":
                    value = None if value in (None, "") else Decimal(str(value))
                elif name == "active":
                    value = bool(value)
                else:
                    value = str(value or "").strip()
                setattr(check, name, value)
        errors = [*check_cross_check(check), *_model_errors(check)]
        if errors:
            raise CrossCheckError([f"{code}：{error}" for error in errors])
        check.save()
        changes = diff(before, snapshot(check))
        if created or changes:
            record_event(
                actor=by,
                action="create" if created else "update",
                entity=CrossCheck._meta.label_lower,
                object_pk=check.pk,
                object_repr=str(check),
                changes=changes,
                note=_("比对规则"),
            )
    return check, created


def _model_errors(check: CrossCheck) -> list[str]:
    try:
        check.full_clean(exclude=["code"], validate_unique=False)
    except ValidationError as error:
        return [f"{name}：{'；'.join(messages)}" for name, messages in error.message_dict.items()]
    return []


def read_cross_checks_file(path) -> list[dict[str, Any]]:
    """A checks file: {"cross_checks": [...]} or a list of checks, in UTF-8 JSON."""
    import json
    from pathlib import Path

    try:
        content = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CrossCheckError(
            [_("无法读取比对规则文件 %(file)s：%(error)s") % {"file": Path(path).name, "error": exc}]
        ) from exc
    if isinstance(content, dict):
        content = content.get("cross_checks", [content])
    if not isinstance(content, list) or not all(isinstance(item, dict) for item in content):
        raise CrossCheckError([_("比对规则文件 %(file)s 的格式不对。") % {"file": Path(path).name}])
    return content


def load_cross_checks(*, path, by: Any) -> list[tuple[CrossCheck, bool]]:
    """Every check of a file, all or none: each created or updated by its code."""
    checks = read_cross_checks_file(path)
    errors: list[str] = []
    saved: list[tuple[CrossCheck, bool]] = []
    with transaction.atomic():
        for values in checks:
            try:
                saved.append(save_cross_check(values=values, by=by))
            except CrossCheckError as exc:
                errors.extend(exc.messages)
        if errors:
            transaction.set_rollback(True)
    if errors:
        raise CrossCheckError(errors)
    return saved
