"""Import batches and department source records.

A source record is one department's statement about one person (keyed by ID number) in one batch. Records
keep their history: when a later batch says something different, the current version is closed
(valid_to) and a new one opened, so "what did civil affairs say about this person on date D, and which
batch said it" can always be answered. The department record models live in exchange.departments, imported at
the end of this module so that Django registers them in this app.

The tables keep the names they had when this app was part of households (db_table), so a database built
before the move keeps its batches and records: the migrations move the models' state only.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from povertycloud.masking import mask_id_number


class ImportBatch(models.Model):
    class Status(models.TextChoices):
        RECEIVED = "received", _("已接收")
        RUNNING = "running", _("导入中")
        SUCCEEDED = "succeeded", _("已完成")
        FAILED = "failed", _("失败")
        # The file would close more current records than the threshold allows: nothing was written; an
        # authorised user confirms (the import runs again with those closures allowed) or cancels.
        REVIEW = "review", _("待确认")
        CANCELLED = "cancelled", _("已取消")
        # Undone: the versions it opened are void, the versions it closed are current again.
        ROLLED_BACK = "rolled_back", _("已撤销")

    department = models.CharField(_("部门"), max_length=40)
    file_name = models.CharField(_("文件名"), max_length=255)
    stored_file = models.CharField(_("存储路径"), max_length=500, blank=True)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    size_bytes = models.BigIntegerField(_("文件大小（字节）"), default=0)
    file_format = models.CharField(_("格式"), max_length=10)
    encoding = models.CharField(_("编码"), max_length=20, blank=True)
    period = models.CharField(_("统计期"), max_length=7, blank=True, help_text=_("YYYY-MM"))
    period_start = models.DateField(_("统计期起始日"), null=True, blank=True)
    region_code = models.CharField(_("区划代码"), max_length=12)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("上传人"),
    )
    uploaded_at = models.DateTimeField(_("上传时间"), auto_now_add=True)
    status = models.CharField(_("状态"), max_length=12, choices=Status.choices, default=Status.RECEIVED)
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    total_rows = models.PositiveIntegerField(_("总行数"), default=0)
    accepted_rows = models.PositiveIntegerField(_("接收行数"), default=0)
    rejected_rows = models.PositiveIntegerField(_("拒收行数"), default=0)
    new_versions = models.PositiveIntegerField(_("新增或变更记录"), default=0)
    closed_versions = models.PositiveIntegerField(_("终止记录"), default=0)
    linked_rows = models.PositiveIntegerField(_("已关联到人"), default=0)
    unlinked_rows = models.PositiveIntegerField(_("未关联到人"), default=0)
    error = models.TextField(_("错误"), blank=True)
    note = models.TextField(_("说明"), blank=True, help_text=_("忽略的列、跳过的空行、新增和变更的记录数"))
    # A registry import's figures per table (户信息, 成员信息, …): total, accepted, rejected, new, changed.
    table_counts = models.JSONField(_("各表行数"), default=dict, blank=True)
    # The closure review (status 待确认): what the file would close, of how many current records.
    would_close = models.PositiveIntegerField(_("将终止的记录"), default=0)
    region_current = models.PositiveIntegerField(_("本区划当前记录"), default=0)
    review_sample = models.JSONField(
        _("将终止记录样本"), default=list, blank=True, help_text=_("将终止的当前记录编号（按证件号码排序，至多若干条）")
    )
    closures_allowed = models.PositiveIntegerField(
        _("已确认可终止的记录数"), null=True, blank=True, help_text=_("确认后重新导入时最多可终止的记录数")
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("确认或取消人"),
    )
    reviewed_at = models.DateTimeField(_("确认或取消时间"), null=True, blank=True)
    rolled_back_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("撤销人"),
    )
    rolled_back_at = models.DateTimeField(_("撤销时间"), null=True, blank=True)
    rollback_reason = models.TextField(_("撤销原因"), blank=True)
    # 来源可溯: the department system that pushed the batch through the API (empty for a file from a person).
    api_client = models.ForeignKey(
        "exchange.ApiClient", on_delete=models.PROTECT, null=True, blank=True, related_name="batches",
        verbose_name=_("报送接口客户端"),
    )
    # Whether the batch is the department's whole list (those missing are closed) or changes only; empty
    # means the department's declaration decides (a file is a snapshot when its department sends snapshots).
    full_snapshot = models.BooleanField(_("全量报送"), null=True, blank=True)

    region_lookup = "region_code"

    class Meta:
        db_table = "households_importbatch"  # the table it had before the app moved out of households
        verbose_name = _("导入批次")
        verbose_name_plural = _("导入批次")
        ordering = ["-uploaded_at", "-id"]
        indexes = [
            models.Index(fields=["department", "sha256"], name="batch_department_sha_idx"),
            models.Index(
                fields=["region_code"], name="batch_region_prefix_idx", opclasses=["varchar_pattern_ops"]
            ),
        ]
        constraints = [
            # The same file (by content) is loaded once per department and region. Changes pushed through the
            # API are not: the same changes may be stated again after others (A→x, A→y, A→x), and a retried
            # request is recognised by its idempotency key instead.
            models.UniqueConstraint(
                fields=["department", "sha256", "region_code"],
                condition=Q(status="succeeded") & (Q(full_snapshot__isnull=True) | Q(full_snapshot=True)),
                name="batch_file_loaded_once",
            ),
            models.CheckConstraint(
                condition=~Q(status="succeeded")
                | Q(total_rows=models.F("accepted_rows") + models.F("rejected_rows")),
                name="batch_accepted_plus_rejected_is_total",
            ),
            models.CheckConstraint(
                condition=~Q(status="rolled_back") | ~Q(rollback_reason=""), name="batch_rollback_has_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.department} {self.file_name}"

    def audit_context(self) -> dict:
        return {"region_code": self.region_code}


class RejectedRow(models.Model):
    batch = models.ForeignKey(
        ImportBatch, on_delete=models.PROTECT, related_name="rejected", verbose_name=_("批次")
    )
    row_number = models.PositiveIntegerField(_("行号"), help_text=_("数据行序号，第 1 行是表头下的第一行"))
    values = models.JSONField(_("原始内容"))
    reasons = models.JSONField(_("拒收原因"))

    region_lookup = "batch__region_code"

    class Meta:
        db_table = "households_rejectedrow"  # the table it had before the app moved out of households
        verbose_name = _("拒收行")
        verbose_name_plural = _("拒收行")
        ordering = ["batch_id", "row_number"]
        indexes = [models.Index(fields=["batch", "row_number"], name="rejected_batch_row_idx")]

    def __str__(self) -> str:
        return str(_("%(batch)s 第 %(row)s 行") % {"batch": self.batch_id, "row": self.row_number})


class BatchRangeIndex(models.Index):
    """The index on a record table's batch column: a block-range (BRIN) index on PostgreSQL, a B-tree elsewhere.

    A batch's versions are inserted together, one department's imports one at a time, so they lie in
    neighbouring pages: a BRIN index (a few pages per table) finds them for a rollback or a batch's page
    as well as a B-tree would, and costs an import almost nothing, where the B-tree cost ~0.2 s per
    300,000 rows. Pages that a later batch's rows fill after a vacuum widen a range; reads stay correct
    (BRIN is lossy, the rows are rechecked), only somewhat less selective."""

    def create_sql(self, model, schema_editor, using="", **kwargs):
        if schema_editor.connection.vendor == "postgresql":
            using = " USING brin"
        return super().create_sql(model, schema_editor, using=using, **kwargs)


class StandingVersions(models.Manager):
    """Versions of records that stand: a version opened by a batch that was rolled back (void) is left out, so
    that every read through ``objects`` (history, risk features and rules, outcomes, pages) sees the data as
    if that batch had never arrived. ``all_versions`` sees them too (rollback, audit)."""

    def get_queryset(self):
        return super().get_queryset().filter(void=False)


class SourceRecord(models.Model):
    """Fields every department's records share. Concrete models add the department's own fields.

    A version holds from valid_from up to, not including, valid_to; ``closed_by`` is the batch that closed
    it (changed or no longer listed). A rolled-back batch's versions are ``void`` with valid_to = valid_from
    (an empty interval: never current, never in force on any date) and are kept, because warnings, linkage
    candidates and the audit trail may name them.
    """

    # Each record model declares its own index on batch and on person (Meta.indexes, named); the foreign keys'
    # automatic ones would index the same columns twice and cost every import their upkeep.
    # Neither batch column has a database constraint: PostgreSQL checks a foreign key once per inserted row
    # (a deferred trigger at commit), 1.5 s of an 8 s import of 300,000 rows, while the only writer of these
    # columns is the import itself (exchange.load), which writes its own batch's id in the transaction that
    # holds that batch. Deleting a batch is still refused by the ORM (PROTECT); nothing deletes one in SQL.
    batch = models.ForeignKey(
        ImportBatch, on_delete=models.PROTECT, related_name="+", verbose_name=_("来源批次"), db_index=False,
        db_constraint=False,
    )
    row_number = models.PositiveIntegerField(_("行号"))
    id_number = models.CharField(_("证件号码"), max_length=18)
    name = models.CharField(_("姓名"), max_length=50)
    person = models.ForeignKey(
        "households.Person", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("关联人员"), db_constraint=False, db_index=False,
    )
    region_code = models.CharField(_("区划代码"), max_length=12)
    row_hash = models.CharField(_("内容摘要"), max_length=32)
    valid_from = models.DateField(_("生效日期"))
    valid_to = models.DateField(_("失效日期"), null=True, blank=True)
    closed_by = models.ForeignKey(
        ImportBatch, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False,
        db_constraint=False, verbose_name=_("终止批次"),
    )
    void = models.BooleanField(_("已作废"), default=False, db_default=False, help_text=_("打开本版本的批次已撤销"))

    region_lookup = "region_code"

    objects = StandingVersions()
    all_versions = models.Manager()  # noqa: DJ012 (a manager, not a field)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.name} {mask_id_number(self.id_number)}"


class LinkCandidate(models.Model):
    """A person in the household file who may be the one an unlinked department record is about.

    Found by linkage.find_candidates; decided by an official of the person's township or county staff.
    One row per (department, record ID number, person): a dismissal stays dismissed when the finder runs
    again.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("待确认")
        CONFIRMED = "confirmed", _("已确认")
        DISMISSED = "dismissed", _("已排除")
        SUPERSEDED = "superseded", _("已失效")

    class Match(models.TextChoices):
        SUBSTITUTION = "substitution", _("证件号码一位不同")
        TRANSPOSITION = "transposition", _("证件号码相邻两位颠倒")
        NAME_BIRTH = "name_birth", _("姓名和出生日期相同")

    department = models.CharField(_("部门"), max_length=40)
    id_number = models.CharField(_("部门记录证件号码"), max_length=18)
    record_name = models.CharField(_("部门记录姓名"), max_length=50)
    record_id = models.BigIntegerField(_("部门记录编号"))
    batch = models.ForeignKey(
        ImportBatch, on_delete=models.PROTECT, related_name="link_candidates", verbose_name=_("来源批次")
    )
    person = models.ForeignKey(
        "households.Person", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("候选人员"), db_constraint=False,
    )
    # Comma-separated Match values: a candidate can be both a typo and a name + birth date match.
    matches = models.CharField(_("匹配依据"), max_length=60)
    region_code = models.CharField(_("区划代码"), max_length=12, help_text=_("候选人员所在村"))
    status = models.CharField(_("状态"), max_length=12, choices=Status.choices, default=Status.PENDING)
    found_at = models.DateTimeField(_("发现时间"), auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("处理人"),
    )
    decided_at = models.DateTimeField(_("处理时间"), null=True, blank=True)
    reason = models.TextField(_("原因"), blank=True)

    region_lookup = "region_code"

    class Meta:
        db_table = "households_linkcandidate"  # the table it had before the app moved out of households
        verbose_name = _("关联候选")
        verbose_name_plural = _("关联候选")
        ordering = ["department", "id_number", "id"]
        indexes = [
            # The review page: one department's records by ID number, and pending candidates in a region.
            models.Index(fields=["department", "id_number"], name="candidate_department_id_idx"),
            models.Index(
                fields=["region_code"], name="candidate_region_prefix_idx", opclasses=["varchar_pattern_ops"]
            ),
            models.Index(fields=["batch", "status"], name="candidate_batch_status_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["department", "id_number", "person"], name="candidate_once_per_record_and_person"
            ),
            models.CheckConstraint(
                condition=~Q(status="dismissed") | ~Q(reason=""), name="candidate_dismissal_has_reason"
            ),
            models.CheckConstraint(
                condition=Q(status="pending") | Q(status="superseded") | Q(decided_at__isnull=False),
                name="candidate_decision_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.department} {mask_id_number(self.id_number)} → {self.person_id}"

    def audit_context(self) -> dict:
        return {"region_code": self.region_code}

    @property
    def match_codes(self) -> list[str]:
        return [code for code in self.matches.split(",") if code]

    @property
    def match_labels(self) -> list[str]:
        labels = dict(self.Match.choices)
        return [str(labels.get(code, code)) for code in self.match_codes]


class ImportSettings(models.Model):
    """Safeguards of the department imports, edited by administrators (one row; defaults when there is none)."""

    max_closed_percent = models.DecimalField(
        _("终止记录比例上限（%）"), max_digits=5, decimal_places=2, default=10,
        help_text=_("一个文件将终止的记录超过本区划当前记录的这个比例时，导入停在“待确认”，由县级工作人员确认或取消。"),
    )
    min_closed_for_review = models.PositiveIntegerField(
        _("需确认的最少终止记录数"), default=10,
        help_text=_("终止的记录少于这个数时不需确认（小区划中终止一两个人不算异常）。"),
    )
    max_xlsx_rows = models.PositiveIntegerField(
        _("Excel 文件最多行数"), default=500_000,
        help_text=_("Excel 工作表声明的行数（dimension）超过此数的文件在读取前即被拒收。"),
    )
    updated_at = models.DateTimeField(_("修改时间"), auto_now=True)

    class Meta:
        verbose_name = _("导入设置")
        verbose_name_plural = _("导入设置")
        constraints = [
            models.CheckConstraint(
                condition=Q(max_closed_percent__gte=0, max_closed_percent__lte=100), name="settings_percent_0_100"
            ),
        ]

    def __str__(self) -> str:
        return str(_("导入设置"))

    @classmethod
    def current(cls) -> "ImportSettings":
        return cls.objects.order_by("pk").first() or cls()

    def closures_need_review(self, *, closed: int, current: int) -> bool:
        """More than max_closed_percent of the region's current records, and at least min_closed_for_review."""
        if closed <= 0 or closed < self.min_closed_for_review:
            return False
        return closed * 100 > float(self.max_closed_percent) * max(current, 0)


class QualityRun(models.Model):
    """One computation of the data-quality counts of a county as of a date (exchange.quality.refresh_counts).

    The data-quality page and the auditors' export read these counts instead of scanning the county per
    request. A run is requested (requested_at) after an import, a rollback or a linkage change in the county,
    or by the schedule (manage.py refresh_quality_counts); its counts are fresh while no batch has finished,
    been undone or linked since it started (started_at)."""

    county_code = models.CharField(_("县区划代码"), max_length=12)
    as_of = models.DateField(_("计算日期"))
    requested_at = models.DateTimeField(_("请求时间"), null=True, blank=True)
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    computed_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    seconds = models.FloatField(_("用时（秒）"), null=True, blank=True)

    region_lookup = "county_code"

    class Meta:
        verbose_name = _("数据质量统计")
        verbose_name_plural = _("数据质量统计")
        constraints = [models.UniqueConstraint(fields=["county_code", "as_of"], name="quality_run_county_as_of")]

    def __str__(self) -> str:
        return f"{self.county_code} {self.as_of}"


class QualityCount(models.Model):
    """People of one township that one data-quality rule finds, in one run (rows with no people are not kept)."""

    run = models.ForeignKey(QualityRun, on_delete=models.CASCADE, related_name="counts")
    township_code = models.CharField(_("乡镇区划代码"), max_length=12)
    rule = models.CharField(_("规则"), max_length=40)
    people = models.PositiveIntegerField(_("人数"))

    region_lookup = "township_code"

    class Meta:
        verbose_name = _("数据质量问题数")
        verbose_name_plural = _("数据质量问题数")
        constraints = [
            models.UniqueConstraint(fields=["run", "township_code", "rule"], name="quality_count_once")
        ]

    def __str__(self) -> str:
        return f"{self.township_code} {self.rule}: {self.people}"


class QualityItem(models.Model):
    """One of the first people (exchange.quality.ITEM_LIMIT per township and rule, in the page's order) that a
    data-quality rule finds in one run, with the department record it cites.

    Written by the same job and transaction as the counts, so a township's page reads a few indexed rows
    instead of scanning the township. Plain ids, not foreign keys: the page loads the people and records by
    primary key through the user's scope and leaves out any that have moved, left or gone since the run."""

    run = models.ForeignKey(QualityRun, on_delete=models.CASCADE, related_name="items")
    township_code = models.CharField(_("乡镇区划代码"), max_length=12)
    rule = models.CharField(_("规则"), max_length=40)
    position = models.PositiveIntegerField(_("序号"))  # 1, 2, … in the order the page lists them
    person_id = models.BigIntegerField(_("人员"))
    record_id = models.BigIntegerField(_("部门记录"), null=True, blank=True)
    record_batch_id = models.BigIntegerField(_("来源批次"), null=True, blank=True)

    region_lookup = "township_code"

    class Meta:
        verbose_name = _("数据质量问题")
        verbose_name_plural = _("数据质量问题")
        constraints = [
            # Also the index the page reads by: one run, one township, its rules in order.
            models.UniqueConstraint(fields=["run", "township_code", "rule", "position"], name="quality_item_once")
        ]

    def __str__(self) -> str:
        return f"{self.township_code} {self.rule} #{self.position}: {self.person_id}"


# The department record models are declared beside their departments; importing them registers them here.
from exchange.api.models import ApiClient, ApiPush, ApiToken, Share, SharedPerson  # noqa: E402, F401
from exchange.departments import (  # noqa: E402, F401
    CivilAffairsRecord,
    DisabilityRecord,
    EducationRecord,
    HealthRecord,
)
from exchange.feeds.models import DeclaredRecord, DepartmentFeed, FeedColumn  # noqa: E402, F401
from exchange.registry.models import RegistryConflict, RegistryRowChange  # noqa: E402, F401
