"""The registry import service: a county's household file from the national monitoring system's exports.

``import_registry(*, region_code, paths, by, as_of, encoding=None, progress=None)`` → ImportBatch
    Reads the household, member, income and status tables (one file each, or sheets of one workbook, CSV in
    UTF-8, UTF-8 with BOM or GBK, or XLSX), checks every row with the household file's validators and the
    tables against each other, and writes what passed into the household file in one transaction
    (exchange.registry.load). Rejected rows are kept with their reasons (RejectedRow, downloadable from the
    batch page); accepted + rejected = total, per table and for the batch. The same files again change
    nothing: a succeeded registry batch with the same content for the region is returned unchanged
    (``already_imported``).

The command (``manage.py import_registry``) and the upload page's background job both call this function.
``as_of`` is the export's date (数据截至日期): the date that status changes found by comparing the export
with the household file take, and the date ID numbers' ages are judged on.
"""

import datetime as dt
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from exchange.models import ImportBatch, RejectedRow
from exchange.pipeline import RunLock, mark_interrupted_batches, publish_progress
from exchange.readers import FileReader, FileRefused, file_facts
from exchange.registry import checks
from exchange.registry.load import Counts, Edited, load
from exchange.registry.models import RegistryConflict
from exchange.registry.tables import (
    HOUSEHOLDS,
    INCOMES,
    MEMBERS,
    REGISTRY,
    REQUIRED_TABLES,
    STATUS,
    TABLE_ORDER,
    TABLES,
    identify,
)
from exchange.registry.writers import writer_for_connection
from households.codes import codebook
from households.models import Household, Person
from povertycloud.accounts.models import Role
from povertycloud.accounts.permissions import role_of
from povertycloud.audit.models import AuditEvent
from povertycloud.audit.services import record_event
from povertycloud.regions.models import Region
from povertycloud.regions.scoping import user_may_see_code

Progress = Callable[[int, int], None]
Status = ImportBatch.Status
REJECT_BATCH = 5000


class SheetReader(FileReader):
    """A FileReader of one worksheet of a workbook (FileReader itself reads the first)."""

    def __init__(self, path: Path, *, sheet: int, **kwargs: Any):
        self.sheet_index = sheet
        super().__init__(path, **kwargs)

    def _sheet(self):
        if self._loaded_sheet is None:
            from python_calamine import CalamineWorkbook

            try:
                self._loaded_sheet = CalamineWorkbook.from_path(str(self.path)).get_sheet_by_index(self.sheet_index)
            except Exception as exc:  # calamine raises several kinds for a damaged workbook
                raise FileRefused(_("无法打开 Excel 文件：%(error)s") % {"error": exc}) from exc
        return self._loaded_sheet


def sheet_names(path: Path) -> list[str]:
    from python_calamine import CalamineWorkbook

    try:
        return list(CalamineWorkbook.from_path(str(path)).sheet_names)
    except Exception as exc:
        raise FileRefused(_("无法打开 Excel 文件：%(error)s") % {"error": exc}) from exc


@dataclass
class Source:
    table: str
    reader: FileReader
    label: str


def find_tables(paths: list[Path], *, encoding: str | None = None) -> dict[str, Source]:
    """Which file (or sheet) holds which table; a table found twice, or a required one missing, refuses."""
    found: dict[str, Source] = {}
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise FileRefused(_("文件不存在：%(path)s") % {"path": path.name})
        probe = FileReader(path, encoding=encoding)
        if probe.format == "xlsx":
            names = sheet_names(path)
            readers = [(SheetReader(path, sheet=i), checks.path_label(path, name)) for i, name in enumerate(names)]
            readers = [(r, label) for r, label in readers if r.headers]
        else:
            readers = [(probe, path.name)]
        for reader, label in readers:
            table = identify(reader.headers, where=label)
            if table.slug in found:
                raise FileRefused(
                    _("%(first)s和%(second)s都是%(table)s，一次导入每张表只能有一份。")
                    % {"first": found[table.slug].label, "second": label, "table": table.name}
                )
            found[table.slug] = Source(table.slug, reader, label)
    checks.refuse_missing(found, REQUIRED_TABLES, {slug: str(t.name) for slug, t in TABLES.items()})
    return found


def stored_paths(batch: ImportBatch) -> list[Path]:
    """The files of an uploaded registry batch: everything in its stored directory."""
    directory = Path(batch.stored_file)
    if not batch.stored_file or not directory.is_dir():
        raise FileRefused(_("批次 #%(pk)s 的上传文件已不存在，请重新上传。") % {"pk": batch.pk})
    return sorted(p for p in directory.iterdir() if p.is_file() and not p.name.endswith(".partial"))


def enqueue_registry_import(*, batch: ImportBatch) -> None:
    """Run a received registry batch in the background once the current transaction commits, in the language
    active now (the uploader's): the batch's reasons and notes are written in it."""
    from exchange.registry.tasks import import_registry_task

    language = get_language()
    transaction.on_commit(lambda: import_registry_task.enqueue(batch.pk, language=language))


IMPORTERS = {Role.TOWNSHIP_OFFICIAL, Role.COUNTY_STAFF, Role.ADMIN}


def may_import_registry_at_all(user: Any) -> bool:
    """Whether the user's role imports registry exports anywhere (the upload page asks before any upload)."""
    return role_of(user) in IMPORTERS


def may_import_registry(user: Any, region_code: str) -> bool:
    """Township officials into their own township, county staff into their county, administrators anywhere;
    auditors never."""
    if not may_import_registry_at_all(user):
        return False
    return role_of(user) == Role.ADMIN or user_may_see_code(user, region_code)


def _digest(paths: list[Path]) -> tuple[str, int]:
    facts = sorted((file_facts(Path(p)) for p in paths), key=lambda f: f.sha256)
    combined = hashlib.sha256("".join(f.sha256 for f in facts).encode()).hexdigest()
    return combined, sum(f.size_bytes for f in facts)


def import_registry(
    *,
    region_code: str,
    paths: list[Path],
    by: Any | None,
    as_of: dt.date,
    encoding: str | None = None,
    progress: Progress | None = None,
    file_name: str | None = None,
) -> ImportBatch:
    batch = receive_registry(
        region_code=region_code, paths=paths, by=by, as_of=as_of, encoding=encoding, file_name=file_name
    )
    if batch.already_imported:
        return batch
    return run_registry_import(batch=batch, paths=paths, encoding=encoding, progress=progress)


def receive_registry(
    *,
    region_code: str,
    paths: list[Path],
    by: Any | None,
    as_of: dt.date,
    encoding: str | None = None,
    file_name: str | None = None,
    stored_dir: Path | None = None,
) -> ImportBatch:
    """Record an export's arrival (status received), or return the earlier succeeded batch of the same files.

    Files given directly (the command) are identified here, so a missing or unknown table refuses at once;
    an upload (stored_dir) is identified by the background job, so that no more than the bounded upload is
    read in the request."""
    region = Region.objects.filter(code=region_code).first()
    if region is None:
        raise FileRefused(_("区划代码 %(code)s 不存在，请先用 load_regions 载入本县区划。") % {"code": region_code})
    if region.level < Region.Level.COUNTY:
        raise FileRefused(_("户档案按县或乡镇导入，%(name)s是省或市级区划。") % {"name": region.name})
    if by is not None and not may_import_registry(by, region_code):
        raise PermissionDenied(_("您不能向该地区导入户档案。"))
    if as_of > timezone.localdate():
        raise FileRefused(_("数据截至日期 %(date)s 晚于今天。") % {"date": as_of.isoformat()})
    if stored_dir is None:
        find_tables([Path(p) for p in paths], encoding=encoding)  # refuses early: unknown or missing tables
    sha256, size = _digest(paths)
    earlier = (
        ImportBatch.objects.filter(department=REGISTRY, region_code=region_code, sha256=sha256, status=Status.SUCCEEDED)
        .order_by("-finished_at")
        .first()
    )
    if earlier is not None:
        earlier.already_imported = True
        return earlier
    batch = ImportBatch.objects.create(
        department=REGISTRY,
        file_name=(file_name or "、".join(Path(p).name for p in paths))[:255],
        stored_file=str(stored_dir) if stored_dir else "",
        encoding=encoding or "",
        sha256=sha256,
        size_bytes=size,
        file_format="registry",
        period=as_of.strftime("%Y-%m"),
        period_start=as_of,
        region_code=region_code,
        uploaded_by=by if getattr(by, "is_authenticated", False) else None,
    )
    batch.already_imported = False
    return batch


def run_registry_import(
    *, batch: ImportBatch, paths: list[Path], encoding: str | None = None, progress: Progress | None = None
) -> ImportBatch:
    """Run a received registry batch: received → running → succeeded | failed, holding the batch's run lock
    so that a cleanup can tell a live import from one whose process died."""
    mark_interrupted_batches()
    with RunLock(batch.pk):
        started = ImportBatch.objects.filter(pk=batch.pk, status=Status.RECEIVED).update(
            status=Status.RUNNING, started_at=timezone.now()
        )
        if not started:
            batch.refresh_from_db()
            raise FileRefused(
                _("批次 #%(pk)s 的状态是“%(status)s”，不能再次导入。")
                % {"pk": batch.pk, "status": batch.get_status_display()}
            )
        batch.refresh_from_db()

        def report(done: int, total: int) -> None:
            publish_progress(batch.pk, done, total, "validating")
            if progress is not None:
                progress(done, total)

        try:
            _run(batch, [Path(p) for p in paths], encoding, report)
        except FileRefused as exc:
            _fail(batch, str(exc))
            raise
        except Exception as exc:
            _fail(batch, _("导入失败，未写入任何记录：%(error)s") % {"error": f"{type(exc).__name__}: {exc}"})
            raise
    publish_progress(batch.pk, batch.total_rows, batch.total_rows, "succeeded")
    batch.already_imported = False
    return batch


def _run(batch: ImportBatch, paths: list[Path], encoding: str | None, progress: Progress | None) -> None:
    region = Region.objects.get(code=batch.region_code)
    as_of = batch.period_start
    sources = find_tables(paths, encoding=encoding)
    estimate = sum(_row_estimate(s.reader) for s in sources.values())
    done = 0

    def advance(rows: int) -> None:
        nonlocal done
        done += rows
        if progress is not None:
            progress(done, max(estimate, done))

    codes = codebook()
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    # The income and status tables (no database needed, and nothing of theirs decides the households' or the
    # members' fate) are read and checked by a second process while this one reads the other two.
    beside = [slug for slug in (INCOMES, STATUS) if slug in sources]
    apart = None
    if beside and estimate >= checks.APART_ROWS and checks.may_fork():
        apart = checks.start_apart(
            {slug: (TABLES[slug], sources[slug].reader, sources[slug].label) for slug in beside},
            codes=codes,
            today=as_of,
        )
    try:
        tables = {
            slug: checks.read_table(
                table=TABLES[slug],
                reader=sources[slug].reader,
                source=sources[slug].label,
                codes=codes,
                today=as_of,
                progress=advance,
            )
            for slug in TABLE_ORDER
            if slug in sources and not (apart is not None and slug in beside)
        }
        timings["read"] = time.perf_counter() - clock
        memory = {"rss_mb.read": _rss_mb()}
        villages = set(
            Region.objects.filter(level=Region.Level.VILLAGE, code__startswith=region.prefix).values_list(
                "code", flat=True
            )
        )
        detail: dict[str, float] = {}
        lap = time.perf_counter()
        checks.check_households(tables[HOUSEHOLDS], codes=codes, villages=villages)
        detail["check.households"], lap = time.perf_counter() - lap, time.perf_counter()
        checks.check_members(tables[MEMBERS], codes=codes, on=as_of)
        detail["check.members"], lap = time.perf_counter() - lap, time.perf_counter()
        if apart is not None:
            read_apart, apart_timings = apart.join()
            detail.update(apart_timings)
            detail["apart.wait"] = time.perf_counter() - lap
            tables = {slug: tables.get(slug) or read_apart[slug] for slug in TABLE_ORDER if slug in sources}
            advance(sum(rows.total for rows in read_apart.values()))
        else:
            if INCOMES in tables:
                checks.check_incomes(tables[INCOMES], on=as_of)
            if STATUS in tables:
                checks.check_status(tables[STATUS], codes=codes)
            detail["check.incomes+status"] = time.perf_counter() - lap
    except BaseException:
        if apart is not None:
            apart.abandon()  # a refusal here: the second process's work is not wanted
        raise
    lap = time.perf_counter()
    numbers = set(tables[HOUSEHOLDS].accepted["number"].astype(str))
    elsewhere_numbers = (
        set(
            Household.objects.filter(number__in=numbers)
            .exclude(village__code__startswith=region.prefix)
            .values_list("number", flat=True)
        )
        if len(numbers) < 50_000
        else _numbers_elsewhere(numbers, region.prefix)
    )
    tables[HOUSEHOLDS].reject(
        tables[HOUSEHOLDS].accepted["number"].isin(elsewhere_numbers).to_numpy(),
        _("户编号已在其他地区登记，不能导入本地区；请联系县级工作人员核实。"),
    )
    elsewhere_ids = _registered_elsewhere(set(tables[MEMBERS].accepted["id_number"].astype(str)), region.prefix)
    existing = set(Household.objects.filter(village__code__startswith=region.prefix).values_list("number", flat=True))
    checks.cross_check(tables, codes=codes, registered_elsewhere=elsewhere_ids, existing_households=existing)
    detail["check.across"] = time.perf_counter() - lap
    memory["rss_mb.check"] = _rss_mb()
    timings["check"] = time.perf_counter() - clock - timings["read"]

    publish_progress(batch.pk, done, done, "merging")
    with transaction.atomic():
        writer = writer_for_connection(now=timezone.now())
        counts = load(
            tables=tables,
            prefix=region.prefix,
            as_of=as_of,
            writer=writer,
            batch_id=batch.pk,
            edited=edited_since_previous_import(batch, region),
        )
        _store_rejects(batch, tables)
        _store_conflicts(batch, counts.conflicts)
        per_table = {
            slug: {
                "name": str(TABLES[slug].name),
                "source": rows.source,
                "total": rows.total,
                "accepted": len(rows.accepted),
                "rejected": rows.rejected_count,
                **counts.tables.get(slug, Counts()).as_dict(),
            }
            for slug, rows in tables.items()
        }
        batch.total_rows = sum(t["total"] for t in per_table.values())
        batch.accepted_rows = sum(t["accepted"] for t in per_table.values())
        batch.rejected_rows = sum(t["rejected"] for t in per_table.values())
        batch.new_versions = sum(t["new"] + t["changed"] + t.get("closed", 0) for t in per_table.values())
        batch.table_counts = per_table
        batch.note = _note(per_table, counts.status_added, tables, len(counts.conflicts))
        batch.status, batch.finished_at, batch.error = Status.SUCCEEDED, timezone.now(), ""
        batch.save()
        record_event(
            actor=batch.uploaded_by,
            action="import",
            entity=ImportBatch._meta.label_lower,
            object_pk=batch.pk,
            object_repr=_("户档案 %(name)s") % {"name": batch.file_name},
            region_code=batch.region_code,
            changes={
                "department": REGISTRY,
                "as_of": as_of.isoformat(),
                "sha256": batch.sha256,
                "tables": per_table,
                "status_added": counts.status_added,
                "conflicts": len(counts.conflicts),
            },
            note=batch.note,
        )
    batch.tables = per_table
    timings["load"] = time.perf_counter() - clock - timings["read"] - timings["check"]
    batch.timings = timings
    memory["rss_mb.load"] = _rss_mb()
    batch.timing_detail = {**detail, **{f"load.{k}": v for k, v in counts.timings.items()}, **memory}


def _rss_mb() -> float:
    """The process's resident memory now, in MB (Linux; 0 elsewhere), for the benchmark's figures."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


EDITED_ENTITIES = ("households.household", "households.person", "households.incomerecord")


def edited_since_previous_import(batch: ImportBatch, region: Region) -> Edited:
    """The fields officials changed in the system (audited updates by a person, and members they added) since
    the region's previous registry import finished; nothing before a first import. A member an official added
    or edited since then is not closed by an export that lacks them (a conflict instead)."""
    previous = (
        ImportBatch.objects.filter(department=REGISTRY, status=Status.SUCCEEDED, finished_at__isnull=False)
        .exclude(pk=batch.pk)
        .order_by("-finished_at")
    )
    previous = next(
        (
            b
            for b in previous.only("region_code", "finished_at")[:50]
            if b.region_code.startswith(region.prefix) or region.code.startswith(_prefix_of(b.region_code))
        ),
        None,
    )
    if previous is None:
        return {}
    edited: Edited = {}
    events = AuditEvent.objects.filter(
        Q(action=AuditEvent.Action.UPDATE, entity__in=EDITED_ENTITIES)
        | Q(action=AuditEvent.Action.CREATE, entity="households.person"),
        at__gt=previous.finished_at,
        actor__isnull=False,
        region_code__startswith=region.prefix,
    ).values_list("entity", "object_pk", "changes")
    for entity, object_pk, changes in events.iterator(chunk_size=5000):
        if object_pk.isdigit():
            edited.setdefault((entity, int(object_pk)), set()).update(changes or {})
    return edited


def _prefix_of(code: str) -> str:
    region = Region.objects.filter(code=code).first()
    return region.prefix if region else code


def _store_conflicts(batch: ImportBatch, conflicts: list) -> None:
    if not conflicts:
        return
    villages = dict(
        Household.objects.filter(pk__in={c.household_id for c in conflicts}).values_list("pk", "village_id")
    )
    RegistryConflict.objects.bulk_create(
        RegistryConflict(
            batch=batch,
            entity=c.entity,
            object_id=c.object_id,
            household_id=c.household_id,
            field=c.field,
            system_value=c.system_value,
            export_value=c.export_value,
            region_code=villages[c.household_id],
        )
        for c in conflicts
    )


def _row_estimate(reader: FileReader) -> int:
    if reader.format == "xlsx":
        return reader.xlsx_row_count()
    return max(file_facts(reader.path).line_count - 1, 0)


def _numbers_elsewhere(numbers: set[str], prefix: str) -> set[str]:
    elsewhere = Household.objects.exclude(village__code__startswith=prefix).values_list("number", flat=True)
    return numbers & set(elsewhere.iterator(chunk_size=20_000))


def _registered_elsewhere(ids: set[str], prefix: str) -> set[str]:
    """The export's ID numbers that the household file registers in a household outside this region."""
    outside = Person.everyone.exclude(household__village__code__startswith=prefix)  # members who left too
    if len(ids) < 20_000:
        return set(outside.filter(id_number__in=ids).values_list("id_number", flat=True))
    return ids & set(outside.values_list("id_number", flat=True).iterator(chunk_size=50_000))


def _store_rejects(batch: ImportBatch, tables: dict[str, checks.TableRows]) -> None:
    rows = []
    for slug, table_rows in tables.items():
        for rejected in sorted(table_rows.rejected, key=lambda r: r.row_number):
            values = {"表": str(TABLES[slug].name), **rejected.values}
            rows.append(
                RejectedRow(batch=batch, row_number=rejected.row_number, values=values, reasons=rejected.reasons)
            )
            if len(rows) >= REJECT_BATCH:
                RejectedRow.objects.bulk_create(rows)
                rows = []
    if rows:
        RejectedRow.objects.bulk_create(rows)


def _note(per_table: dict, status_added: int, tables: dict[str, checks.TableRows], conflicts: int) -> str:
    parts = []
    for slug in TABLE_ORDER:
        if slug not in per_table:
            continue
        t = per_table[slug]
        parts.append(
            _(
                "%(name)s（%(source)s）：共 %(total)s 行，接收 %(accepted)s 行，拒收 %(rejected)s 行；"
                "新增 %(new)s，变更 %(changed)s，未变 %(unchanged)s。"
            )
            % t
        )
        if slug == MEMBERS:
            parts.append(_("离开（已关闭）%(closed)s 人。") % {"closed": t.get("closed", 0)})
        extra = tables[slug].extra_columns
        if extra:
            parts.append(
                _("忽略了%(name)s中不认识的列：%(columns)s。") % {"name": t["name"], "columns": "、".join(extra)}
            )
    parts.append(_("新增状态变更 %(count)s 条。") % {"count": status_added})
    if conflicts:
        parts.append(
            _("有 %(count)s 处导出数据与乡镇在上次导入后所做的修改不一致：保留了系统中的值，待乡镇处理。")
            % {"count": conflicts}
        )
    # Chinese sentences end in "。" and need no space between them; translated ones do.
    return "".join(part if part.endswith("。") else part + " " for part in parts).rstrip()


def _fail(batch: ImportBatch, message: str) -> None:
    ImportBatch.objects.filter(pk=batch.pk).exclude(status=Status.SUCCEEDED).update(
        status=Status.FAILED, error=message, finished_at=timezone.now()
    )
    batch.refresh_from_db()
    publish_progress(batch.pk, 0, 0, "failed")
    record_event(
        actor=batch.uploaded_by,
        action="import",
        entity=ImportBatch._meta.label_lower,
        object_pk=batch.pk,
        object_repr=_("户档案 %(name)s") % {"name": batch.file_name},
        region_code=batch.region_code,
        changes={"department": REGISTRY, "sha256": batch.sha256, "status": "failed"},
        note=message,
    )
