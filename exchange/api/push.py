"""Push: a department system posts its records (JSON) or its file into the same import pipeline as an upload.

A JSON push is written as a UTF-8 CSV with the department's declared headers (the 统计期 column filled with the
request's period), stored where uploads are stored, and received by exchange.pipeline like a file, so that the
validation, the rejected rows, the history, the linkage and the closure safeguard are the pipeline's and
nothing else's. Row ``n`` of the batch (RejectedRow.row_number) is ``records[n - 1]``.

Modes: ``snapshot`` is the department's whole list for the client's region (those it does not list are
closed, under the pipeline's closure safeguard); ``changes`` closes nobody it does not list. A mode that is what
the department's declaration says is stored as "the declaration decides" (ImportBatch.full_snapshot = None),
exactly like an uploaded file, so that an identical upload and push are the same file to the pipeline.

Small pushes run in the request and answer the finished batch (201); larger ones are queued (202) and polled.
An Idempotency-Key makes a retry safe: the first request claims the key (ApiPush, unique per client), a retry
with the same body answers the same batch (200, ``replayed``) and loads nothing again.
"""

import csv
import datetime as dt
import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.http import UnreadablePostError
from django.urls import path, re_path, reverse
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import exceptions, generics, parsers, serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from exchange.api.auth import require_scope
from exchange.api.datasets import push_scope
from exchange.api.errors import ApiError
from exchange.api.models import ApiClient, ApiPush
from exchange.api.views import ErrorSerializer
from exchange.declarations import Department, Kind, get_department, is_department
from exchange.exports import batch_department
from exchange.forms import ALLOWED_SUFFIXES, MAX_UPLOAD_BYTES, ZIP_MAGIC, SizeLimitHandler, too_large_message
from exchange.linkage_tasks import enqueue_candidate_search
from exchange.models import ImportBatch, ImportSettings, RejectedRow
from exchange.pipeline import (
    FileRefused,
    enqueue_import,
    read_progress,
    receive_department_file,
    store_upload,
)
from exchange.readers import match_header, peek_header
from exchange.tasks import import_department_file_task
from povertycloud.regions.scoping import scope_for_user

MAX_JSON_BYTES = 64 * 1024 * 1024  # a JSON push's body; 100,000 records of a department fit in about 45 MB
MAX_RECORDS = 100_000
RUN_AT_ONCE_RECORDS = 1_000  # up to this many records a push is imported in the request
RUN_AT_ONCE_FILE_BYTES = 256 * 1024  # and a file up to this size
# A claimed key whose first request left no batch this long ago died with its process: a retry may claim it.
ABANDONED_CLAIM = dt.timedelta(minutes=15)
KEY_HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"[\x20-\x7e]{1,100}")
PERIOD_PATTERN = r"^(19\d{2}|20\d{2}|2100)-(0[1-9]|1[0-2])$"  # the years exchange.validate.parse_period takes
ID_PATTERN = re.compile(r"[0-9]{1,18}")  # a batch id in a path or a cursor: digits that fit a bigint
# Characters a value may not hold: they would split or corrupt the CSV line that carries the record.
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
Status = ImportBatch.Status
SNAPSHOT, CHANGES = "snapshot", "changes"
MODES = [
    (SNAPSHOT, gettext_lazy("全量：本区划的完整名单，未列入的人员记录终止")),
    (CHANGES, gettext_lazy("变更：只更新列出的人员")),
]
STAGES = ["received", "validating", "merging", "succeeded", "failed", "review", "cancelled", "rolled_back"]


# --- Reading the request ----------------------------------------------------------------------------------


class PushJSONParser(parsers.BaseParser):
    """JSON up to MAX_JSON_BYTES. DRF's JSONParser reads ``request.body``, which Django caps at
    DATA_UPLOAD_MAX_MEMORY_SIZE (10 MB, meant for forms); this parser reads the stream itself, bounded."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        try:
            raw = stream.read(MAX_JSON_BYTES + 1)
        except (OSError, UnreadablePostError) as exc:
            raise ApiError(_("请求内容读取失败。"), code="parse_error") from exc
        if len(raw) > MAX_JSON_BYTES:
            raise too_large_json()
        try:
            return json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ApiError(_("请求内容不是有效的 JSON（UTF-8）。"), code="parse_error") from exc


def _refuse_constant(name: str) -> None:
    raise ValueError(name)  # NaN, Infinity: not JSON


def too_large_json() -> ApiError:
    return ApiError(
        _("请求内容过大：JSON 报送最大 %(mb)s MB，请分批报送或改用文件报送。")
        % {"mb": MAX_JSON_BYTES // (1024 * 1024)},
        code="too_large", status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    )


def _declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _data(request) -> Any:
    """request.data, with Django's refusals of a body (too big, too many fields, cut off) as API errors."""
    try:
        return request.data
    except (RequestDataTooBig, TooManyFieldsSent) as exc:
        raise ApiError(
            _("请求内容过大。"), code="too_large", status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
        ) from exc
    except (SuspiciousOperation, UnreadablePostError) as exc:
        raise ApiError(_("请求内容读取失败。"), code="parse_error") from exc


def idempotency_key(request) -> str | None:
    key = request.META.get("HTTP_IDEMPOTENCY_KEY")
    if key is None:
        return None
    if not KEY_PATTERN.fullmatch(key):
        raise ApiError(
            _("Idempotency-Key 应为 1 到 100 个可打印的 ASCII 字符。"), code="invalid", field=KEY_HEADER
        )
    return key


# --- Records as the department's CSV ----------------------------------------------------------------------


@dataclass(frozen=True)
class PushFile:
    content: bytes
    sha256: str
    rows: int


def records_csv(*, department: Department, records: list, period: str) -> PushFile:
    """The records as the department's file: declared headers, one line per record, 统计期 = period.

    A key is a field name (FieldSpec.name) or a declared header (FieldSpec.column). A malformed request (a
    record that is not an object, an unknown key, a value that is not a string, number, boolean or null) is
    refused whole; a value the department's rules refuse is the pipeline's rejected row."""
    period_keys = {key for spec in department.fields if spec.kind == Kind.PERIOD for key in (spec.name, spec.column)}
    position: dict[str, int] = {}
    for index, spec in enumerate(department.fields):
        if spec.kind != Kind.PERIOD:
            position[spec.name] = position[spec.column] = index
    blank = ["" if spec.kind != Kind.PERIOD else period for spec in department.fields]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(department.columns)
    for number, record in enumerate(records):
        if not isinstance(record, dict):
            raise ApiError(_("每条记录应为一个对象（字段名: 值）。"), code="invalid", field=f"records[{number}]")
        row = list(blank)
        seen: set[int] = set()
        for key, value in record.items():
            where = f"records[{number}].{key}"
            at = position.get(key)
            if at is None:
                if key in period_keys:
                    message = _("统计期只能在请求顶层（period）给出，不能写在记录里。")
                else:
                    message = _("未知的字段“%(field)s”：请使用本部门声明的字段名或表头。") % {"field": key[:100]}
                raise ApiError(message, code="unknown_field", field=where[:200])
            if at in seen:
                raise ApiError(_("同一字段在一条记录中出现了两次（字段名和表头）。"), code="duplicate_field",
                               field=where[:200])
            seen.add(at)
            row[at] = cell(value, field=where)
        writer.writerow(row)
    content = out.getvalue().encode("utf-8")
    return PushFile(content=content, sha256=hashlib.sha256(content).hexdigest(), rows=len(records))


def cell(value: Any, *, field: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, str):
        if CONTROL.search(value):
            raise ApiError(_("值中不能有换行符或其他控制字符。"), code="invalid_value", field=field[:200])
        return value
    raise ApiError(_("值应为字符串、数字、true/false 或 null。"), code="invalid_value", field=field[:200])


# --- Idempotency ------------------------------------------------------------------------------------------


def claim_key(*, client: ApiClient, key: str, request_sha256: str) -> ApiPush | ImportBatch:
    """The ApiPush this request holds under its key, or the batch an earlier request with the same body made.

    The unique (client, key) constraint decides between two requests at once: the second one's insert fails
    and it reads the first one's claim."""
    for _attempt in range(2):
        try:
            with transaction.atomic():
                return ApiPush.objects.create(client=client, idempotency_key=key, request_sha256=request_sha256)
        except IntegrityError:
            pass
        earlier = ApiPush.objects.select_related("batch").filter(client=client, idempotency_key=key).first()
        if earlier is None:
            continue  # released by its request meanwhile: claim it
        if earlier.request_sha256 != request_sha256:
            raise ApiError(
                _("这个 Idempotency-Key 已用于内容不同的另一次报送；新的报送请使用新的键。"),
                code="idempotency_conflict", field=KEY_HEADER, status_code=status.HTTP_409_CONFLICT,
            )
        if earlier.batch is not None:
            earlier.batch.already_imported = earlier.batch.uploaded_at < earlier.created_at
            return earlier.batch
        if earlier.created_at < timezone.now() - ABANDONED_CLAIM:
            ApiPush.objects.filter(pk=earlier.pk, batch__isnull=True).delete()
            continue
        break
    raise ApiError(
        _("使用这个 Idempotency-Key 的报送仍在接收中，请稍后重试。"),
        code="idempotency_in_progress", field=KEY_HEADER, status_code=status.HTTP_409_CONFLICT,
    )


def release_key(push: ApiPush | None) -> None:
    """A request that made no batch frees its key, so that a retry is received afresh."""
    if push is not None:
        ApiPush.objects.filter(pk=push.pk, batch__isnull=True).delete()


# --- The push service -------------------------------------------------------------------------------------


@dataclass
class Pushed:
    batch: ImportBatch
    replayed: bool = False
    queued: bool = False
    refused: str = ""  # the pipeline's reason when the file was refused


def full_snapshot_for(department: Department, mode: str) -> bool | None:
    """What the declaration would decide is left to it (None), as for an uploaded file."""
    wanted = mode == SNAPSHOT
    return None if wanted == department.full_snapshot else wanted


def push_file(
    *,
    client: ApiClient,
    content: ContentFile | Any,
    file_sha256: str,
    file_name: str,
    period: str | None,
    mode: str,
    run_now: bool,
    key: str | None,
    check_header: bool,
) -> Pushed:
    """Store a department file (pushed records or an uploaded file) and receive it into the import pipeline.

    Runs it at once (``run_now``) or queues it. Raises FileRefused when the pipeline refuses the file before
    making a batch; a batch the import refuses comes back failed with ``refused`` set."""
    department = get_department(client.department)
    claim: ApiPush | None = None
    if key is not None:
        request_sha256 = hashlib.sha256(f"{mode}\0{period or ''}\0{file_sha256}".encode()).hexdigest()
        claimed = claim_key(client=client, key=key, request_sha256=request_sha256)
        if isinstance(claimed, ImportBatch):
            return Pushed(batch=claimed, replayed=True)
        claim = claimed
    full_snapshot = full_snapshot_for(department, mode)
    stored: Path | None = None
    try:
        stored = store_upload(uploaded_file=content, department=department.slug)
        if check_header:
            _check_header(stored, department)
        with transaction.atomic():
            batch = receive_department_file(
                department=department.slug, path=stored, by=None, region_code=client.region_id, period=period,
                file_name=file_name, api_client=client, full_snapshot=full_snapshot,
            )
            if claim is not None:
                claim.batch = batch
                claim.save(update_fields=["batch"])
            queued = not batch.already_imported and not run_now
            if queued:
                enqueue_import(batch=batch)
                enqueue_candidate_search(batch=batch)
    except BaseException:
        release_key(claim)
        if stored is not None:
            _discard(stored)
        raise
    if batch.already_imported:
        if Path(batch.stored_file) != stored.resolve():
            _discard(stored)
        return Pushed(batch=batch)
    if queued:
        return Pushed(batch=batch, queued=True)
    # The background task's own work (import, quality counts), in this request and the caller's language.
    import_department_file_task.call(batch.pk, language=get_language())
    batch.refresh_from_db()
    batch.already_imported = False
    if batch.status == Status.FAILED:
        return Pushed(batch=batch, refused=batch.error)
    enqueue_candidate_search(batch=batch)
    return Pushed(batch=batch)


def _check_header(stored: Path, department: Department) -> None:
    """The header of an uploaded file, from a bounded read, as the upload page checks it."""
    try:
        peek = peek_header(stored, max_xlsx_rows=ImportSettings.current().max_xlsx_rows)
        if peek.headers is not None:
            match_header(department, peek.headers)
    except FileRefused:
        raise
    except Exception as exc:
        raise FileRefused(_("无法读取文件：请确认是有效的 CSV 或 Excel（.xlsx）文件。")) from exc


def _discard(stored: Path) -> None:
    """Remove a stored file unless a batch points at it (files are named by content and may be shared)."""
    if not ImportBatch.objects.filter(stored_file=str(stored.resolve())).exists():
        stored.unlink(missing_ok=True)


# --- Reading batches --------------------------------------------------------------------------------------


def batches_of(client: ApiClient):
    """The batches this client pushed, inside its region."""
    return scope_for_user(ImportBatch.objects.filter(api_client=client), client)


def batch_of(client: ApiClient, batch_id: str):
    if not ID_PATTERN.fullmatch(str(batch_id)):
        raise exceptions.NotFound(_("未找到。"), code="not_found")
    batch = batches_of(client).filter(pk=int(batch_id)).first()
    if batch is None:
        raise exceptions.NotFound(_("未找到。"), code="not_found")
    return batch


def progress_of(batch: ImportBatch) -> dict[str, Any]:
    if batch.status == Status.RECEIVED:
        return {"done": 0, "total": 0, "stage": "received"}
    if batch.status == Status.RUNNING:
        cached = read_progress(batch.pk) or {}
        stage = cached.get("stage") if cached.get("stage") in ("validating", "merging") else "validating"
        return {"done": int(cached.get("done") or 0), "total": int(cached.get("total") or 0), "stage": stage}
    return {"done": batch.total_rows, "total": batch.total_rows, "stage": batch.status}


def mode_of(batch: ImportBatch) -> str:
    snapshot = batch.full_snapshot
    if snapshot is None:
        snapshot = batch_department(batch.department).full_snapshot
    return SNAPSHOT if snapshot else CHANGES


# --- Serializers --------------------------------------------------------------------------------------------

VALUE_SCHEMA = {
    "oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}],
    "nullable": True,
}


@extend_schema_field(
    {
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_RECORDS,
        "items": {"type": "object", "additionalProperties": VALUE_SCHEMA},
        "description": gettext_lazy(
            "记录：键为本部门声明的字段名（如 id_number、name、insured）或表头（如 证件号码）；值为字符串、数字、"
            "true/false（是/否）或 null。第 n 条记录是批次的第 n 行。"
        ),
    }
)
class RecordsField(serializers.Field):
    default_error_messages = {
        "not_a_list": gettext_lazy("records 应为记录的数组。"),
        "empty": gettext_lazy("records 不能为空。"),
        "too_many": gettext_lazy("一次最多报送 %(max)s 条记录，请分批报送。"),
    }

    def to_internal_value(self, data: Any) -> list:
        if not isinstance(data, list):
            self.fail("not_a_list")
        if not data:
            self.fail("empty")
        if len(data) > MAX_RECORDS:
            raise serializers.ValidationError(self.error_messages["too_many"] % {"max": MAX_RECORDS}, code="too_many")
        return data

    def to_representation(self, value: Any) -> Any:
        return value


def period_field(help_text: str, **kwargs: Any) -> serializers.RegexField:
    return serializers.RegexField(
        PERIOD_PATTERN, max_length=7,
        error_messages={"invalid": gettext_lazy("统计期应写作 YYYY-MM，如 2025-03。")}, help_text=help_text, **kwargs,
    )


class PushRecordsSerializer(serializers.Serializer):
    period = period_field(gettext_lazy("统计期 YYYY-MM，作为每条记录的“统计期”列"))
    mode = serializers.ChoiceField(
        choices=MODES, default=CHANGES,
        help_text=gettext_lazy("changes（默认）：只更新列出的人员；snapshot：本区划的完整名单，未列入的人员记录终止"),
    )
    records = RecordsField()


class PushFileSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text=gettext_lazy("部门数据文件（.csv 或 .xlsx），与上传页面的文件相同"), max_length=255,
    )
    period = period_field(
        gettext_lazy("统计期 YYYY-MM；文件有“统计期”列时可不填"), required=False, allow_blank=True
    )
    mode = serializers.ChoiceField(
        choices=MODES, default=SNAPSHOT,
        help_text=gettext_lazy("snapshot（默认，与上传相同）：本区划的完整名单；changes：只更新列出的人员"),
    )


class ProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    total = serializers.IntegerField()
    stage = serializers.ChoiceField(choices=STAGES)


class CountsSerializer(serializers.Serializer):
    total = serializers.IntegerField(source="total_rows")
    accepted = serializers.IntegerField(source="accepted_rows")
    rejected = serializers.IntegerField(source="rejected_rows")
    new_versions = serializers.IntegerField()
    closed_versions = serializers.IntegerField()
    linked = serializers.IntegerField(source="linked_rows")
    unlinked = serializers.IntegerField(source="unlinked_rows")


class BatchSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=Status.choices)
    mode = serializers.SerializerMethodField(
        help_text=gettext_lazy("snapshot：完整名单，未列入的人员记录终止；changes：只更新列出的人员")
    )
    period = serializers.CharField(help_text=gettext_lazy("统计期 YYYY-MM；文件未定统计期时为空"))
    progress = serializers.SerializerMethodField()
    counts = CountsSerializer(source="*")
    created = serializers.DateTimeField(source="uploaded_at")
    status_url = serializers.SerializerMethodField()
    rejected_url = serializers.SerializerMethodField()

    class Meta:
        model = ImportBatch
        fields = [
            "id", "status", "department", "mode", "period", "file_name", "created", "started_at", "finished_at",
            "progress", "counts", "error", "note", "status_url", "rejected_url",
        ]

    @extend_schema_field(serializers.ChoiceField(choices=MODES))
    def get_mode(self, batch: ImportBatch) -> str:
        return mode_of(batch)

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, batch: ImportBatch) -> dict:
        return progress_of(batch)

    def _url(self, batch: ImportBatch, name: str) -> str | None:
        client, request = self.context.get("client"), self.context.get("request")
        if client is None or batch.api_client_id != client.pk:
            return None  # a batch of the same file that someone else sent: not readable through this client
        url = reverse(name, kwargs={"id": batch.pk})
        return request.build_absolute_uri(url) if request is not None else url

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_status_url(self, batch: ImportBatch) -> str | None:
        return self._url(batch, "api:push-batch")

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_rejected_url(self, batch: ImportBatch) -> str | None:
        return self._url(batch, "api:push-batch-rejected")


class PushAnswerSerializer(BatchSerializer):
    replayed = serializers.BooleanField(help_text=gettext_lazy("同一 Idempotency-Key 的重试：返回原批次，未重复导入"))
    already_imported = serializers.BooleanField(help_text=gettext_lazy("相同内容已导入：返回原批次，未重复导入"))

    class Meta(BatchSerializer.Meta):
        fields = [*BatchSerializer.Meta.fields, "replayed", "already_imported"]


class PushErrorSerializer(ErrorSerializer):
    batch = serializers.IntegerField(
        required=False, allow_null=True, help_text=gettext_lazy("文件被拒收时：失败的批次编号（若已建立批次）")
    )


class RejectedRowSerializer(serializers.ModelSerializer):
    values = serializers.DictField(
        child=serializers.CharField(allow_blank=True), help_text=gettext_lazy("原始内容：表头 → 值")
    )
    reasons = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = RejectedRow
        fields = ["row_number", "values", "reasons"]


# --- Views ------------------------------------------------------------------------------------------------


class IdCursorPagination(CursorPagination):
    """Cursor pages over an integer column; a cursor whose position is not such a number is not found."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def decode_cursor(self, request):
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None and not ID_PATTERN.fullmatch(cursor.position):
            raise exceptions.NotFound(self.invalid_cursor_message)
        return cursor


class NewestFirst(IdCursorPagination):
    ordering = "-id"


class ByRow(IdCursorPagination):
    ordering = "row_number"


KEY_PARAMETER = OpenApiParameter(
    KEY_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    pattern=r"^[\x20-\x7e]{1,100}$",
    description=gettext_lazy(
        "幂等键（1–100 个可打印 ASCII 字符）：相同键、相同内容的重试返回原批次（200，replayed=true），不重复导入；"
        "相同键、不同内容为 409。"
    ),
)
ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description=gettext_lazy("批次编号"))
READ_ERRORS = {code: ErrorSerializer for code in (401, 403, 404, 429)}
PUSH_ANSWERS = {
    200: PushAnswerSerializer, 201: PushAnswerSerializer, 202: PushAnswerSerializer, 400: PushErrorSerializer,
    **{code: ErrorSerializer for code in (401, 403, 409, 413, 415, 429)},
}
PUSH_DESCRIPTION = gettext_lazy(
    "记录进入与上传文件相同的导入流程：逐行校验，不合格的行作为拒收行保留（accepted + rejected = total），"
    "不影响其他行。小批量（不超过 %(records)s 条记录或 %(kb)s KB 的文件）当即导入，返回完成的批次（201）；"
    "更大的排队导入，立即返回批次编号和 status_url（202），可轮询进度。文件整体被拒收（统计期无效或早于已导入的、"
    "缺少必需的列、无法读取）时返回 400（code=file_refused），不写入任何记录。"
)


def _push_description() -> str:
    return str(PUSH_DESCRIPTION) % {"records": RUN_AT_ONCE_RECORDS, "kb": RUN_AT_ONCE_FILE_BYTES // 1024}


push_description = lazy(_push_description, str)  # in the language of the schema's reader


class PushMixin:
    def client(self, request) -> ApiClient:
        client = request.user
        require_scope(client, push_scope(client.department))
        return client

    def pushing_client(self, request) -> ApiClient:
        """A client that may push now: with its scope, and of a department that is declared and active (one
        declared as data may have been deactivated since the client was made: it reads its batches, no more)."""
        client = self.client(request)
        if not is_department(client.department):
            raise ApiError(
                _("部门“%(slug)s”已停用，不能再报送数据。") % {"slug": client.department},
                code="department_inactive", status_code=status.HTTP_403_FORBIDDEN,
            )
        return client

    def answer(self, request, pushed: Pushed) -> Response:
        batch, client = pushed.batch, request.user
        if pushed.refused:
            return refused_answer(pushed.refused, batch=batch)
        batch.replayed, batch.already_imported = pushed.replayed, bool(getattr(batch, "already_imported", False))
        data = PushAnswerSerializer(batch, context={"request": request, "client": client}).data
        if pushed.replayed or batch.already_imported:
            code = status.HTTP_200_OK
        elif pushed.queued or batch.status == Status.REVIEW:
            code = status.HTTP_202_ACCEPTED
        else:
            code = status.HTTP_201_CREATED
        return Response(data, status=code)


def refused_answer(message: str, *, batch: ImportBatch | None) -> Response:
    fault = {"field": None, "code": "file_refused", "message": message}
    return Response({**fault, "errors": [fault], "batch": batch.pk if batch is not None else None}, status=400)


class BatchesView(PushMixin, generics.ListAPIView):
    """GET: the client's batches, newest first. POST: push records as JSON."""

    parser_classes = [PushJSONParser]
    pagination_class = NewestFirst
    serializer_class = BatchSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator
            return ImportBatch.objects.none()
        return batches_of(self.client(self.request))

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "client": self.request.user}

    @extend_schema(
        summary=gettext_lazy("本客户端报送的批次"),
        description=gettext_lazy("本客户端报送的批次，最新的在前（游标分页）。"),
        responses={200: BatchSerializer(many=True), **READ_ERRORS},
        tags=["push"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary=gettext_lazy("报送记录（JSON）"),
        description=push_description(),
        request=PushRecordsSerializer,
        parameters=[KEY_PARAMETER],
        responses=PUSH_ANSWERS,
        tags=["push"],
    )
    def post(self, request, *args, **kwargs):
        client = self.pushing_client(request)
        key = idempotency_key(request)
        if _declared_length(request) > MAX_JSON_BYTES:
            raise too_large_json()
        body = PushRecordsSerializer(data=_data(request))
        body.is_valid(raise_exception=True)
        period, mode, records = (body.validated_data[k] for k in ("period", "mode", "records"))
        made = records_csv(department=get_department(client.department), records=records, period=period)
        name = f"api-push-{timezone.localtime():%Y%m%d-%H%M%S}-{made.sha256[:8]}.csv"
        try:
            pushed = push_file(
                client=client, content=ContentFile(made.content, name=name), file_sha256=made.sha256,
                file_name=name, period=period, mode=mode, run_now=made.rows <= RUN_AT_ONCE_RECORDS, key=key,
                check_header=False,
            )
        except FileRefused as exc:
            return refused_answer(str(exc), batch=None)
        return self.answer(request, pushed)


class BatchFileView(PushMixin, generics.GenericAPIView):
    parser_classes = [parsers.MultiPartParser]
    serializer_class = PushFileSerializer

    @extend_schema(
        summary=gettext_lazy("报送文件（CSV 或 Excel）"),
        description=push_description(),
        request={"multipart/form-data": PushFileSerializer},
        parameters=[KEY_PARAMETER],
        responses=PUSH_ANSWERS,
        tags=["push"],
    )
    def post(self, request, *args, **kwargs):
        client = self.pushing_client(request)
        key = idempotency_key(request)
        if _declared_length(request) > MAX_UPLOAD_BYTES + 1024 * 1024:
            raise ApiError(too_large_message(), code="too_large", status_code=413)
        request._request.upload_handlers.insert(0, SizeLimitHandler(request._request))
        data = _data(request)
        if getattr(request._request, "upload_too_large", False):
            raise ApiError(too_large_message(), code="too_large", field="file", status_code=413)
        body = PushFileSerializer(data=data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        _check_upload(upload)
        digest = hashlib.sha256()
        for block in upload.chunks():
            digest.update(block)
        upload.seek(0)
        try:
            pushed = push_file(
                client=client, content=upload, file_sha256=digest.hexdigest(), file_name=upload.name,
                period=body.validated_data.get("period") or None, mode=body.validated_data["mode"],
                run_now=upload.size <= RUN_AT_ONCE_FILE_BYTES, key=key, check_header=True,
            )
        except FileRefused as exc:
            return refused_answer(str(exc), batch=None)
        return self.answer(request, pushed)


def _check_upload(upload) -> None:
    """What the upload form checks: the kind of file by its name and first bytes."""
    name = upload.name.lower()
    if not name.endswith(ALLOWED_SUFFIXES):
        raise ApiError(_("只能上传 .csv 或 .xlsx 文件（旧版 .xls 请另存为 .xlsx）。"), code="invalid", field="file")
    head = upload.read(8192)
    upload.seek(0)
    if not head:
        raise ApiError(_("文件是空的。"), code="invalid", field="file")
    if name.endswith(".xlsx") and not head.startswith(ZIP_MAGIC):
        raise ApiError(_("文件扩展名是 .xlsx，但内容不是 Excel 工作簿。"), code="invalid", field="file")
    if name.endswith(".csv") and (head.startswith(ZIP_MAGIC) or b"\x00" in head):
        raise ApiError(_("文件扩展名是 .csv，但内容不是文本表格。"), code="invalid", field="file")


class BatchView(PushMixin, generics.GenericAPIView):
    serializer_class = BatchSerializer

    @extend_schema(
        summary=gettext_lazy("批次状态"),
        description=gettext_lazy("状态、进度、各项行数和错误。只能查看本客户端报送的批次。"),
        parameters=[ID_PARAMETER],
        responses={200: BatchSerializer, **READ_ERRORS},
        tags=["push"],
    )
    def get(self, request, id: str):
        batch = batch_of(self.client(request), id)
        return Response(BatchSerializer(batch, context={"request": request, "client": request.user}).data)


class RejectedRowsView(PushMixin, generics.ListAPIView):
    serializer_class = RejectedRowSerializer
    pagination_class = ByRow

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator
            return RejectedRow.objects.none()
        batch = batch_of(self.client(self.request), self.kwargs["id"])
        return RejectedRow.objects.filter(batch=batch)

    @extend_schema(
        summary=gettext_lazy("批次的拒收行"),
        description=gettext_lazy(
            "拒收行的行号（第 n 行是第 n 条记录或文件表头下的第 n 行）、原始内容和原因（游标分页）。"
        ),
        parameters=[ID_PARAMETER],
        responses={200: RejectedRowSerializer(many=True), **READ_ERRORS},
        tags=["push"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


urlpatterns = [
    path("v1/batches/", BatchesView.as_view(), name="push-batches"),
    path("v1/batches/file/", BatchFileView.as_view(), name="push-batch-file"),
    re_path(r"^v1/batches/(?P<id>[^/]+)/$", BatchView.as_view(), name="push-batch"),
    re_path(r"^v1/batches/(?P<id>[^/]+)/rejected/$", RejectedRowsView.as_view(), name="push-batch-rejected"),
]
