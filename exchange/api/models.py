"""Department API clients, their tokens, pushes (idempotency) and shares (去向可查).

An ApiClient is one department system of one region (县医保局, county 522634). It stands where a user stands
for the scoping helper (it has a region, is authenticated while active), so every read of the API passes
through povertycloud.regions.scoping like the pages. Its tokens are stored as SHA-256 digests; the token itself
is shown once, when issued.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ApiClient(models.Model):
    name = models.CharField(_("名称"), max_length=100, help_text=_("如：县医保局"))
    department = models.CharField(
        _("部门"), max_length=40, help_text=_("报送数据时使用的部门（已声明的部门标识，如 health）")
    )
    region = models.ForeignKey(
        "regions.Region", on_delete=models.PROTECT, related_name="+", verbose_name=_("所属区划"),
        help_text=_("客户端只能报送和读取本区划及其下级的数据。"),
    )
    scopes = models.JSONField(_("权限范围"), default=list, blank=True)
    # {dataset slug: [field names]}: which fields of each pull this client may read. A dataset not named here
    # gives its declared least fields (exchange.api.datasets).
    fields = models.JSONField(_("可读取字段"), default=dict, blank=True)
    purpose = models.CharField(_("用途"), max_length=200, blank=True, help_text=_("读取数据的用途，记入每次共享记录"))
    rate_per_minute = models.PositiveIntegerField(_("每分钟请求上限"), default=120)
    active = models.BooleanField(_("启用"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("创建人"),
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    region_lookup = "region_id"

    class Meta:
        verbose_name = _("接口客户端")
        verbose_name_plural = _("接口客户端")
        ordering = ["region_id", "name"]

    def __str__(self) -> str:
        return self.name

    # What the scoping helper and the audit trail ask of whoever makes a request.
    is_authenticated = True
    is_anonymous = False
    is_superuser = False
    role = "api_client"

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def username(self) -> str:
        return f"api:{self.pk}:{self.name}"[:150]

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])

    def audit_context(self) -> dict:
        return {"region_code": self.region_id}


class ApiToken(models.Model):
    client = models.ForeignKey(ApiClient, on_delete=models.PROTECT, related_name="tokens", verbose_name=_("客户端"))
    prefix = models.CharField(_("令牌前缀"), max_length=16, help_text=_("令牌开头几位，用于辨认，不能用来调用接口"))
    digest = models.CharField(_("令牌摘要"), max_length=64, unique=True)
    created_at = models.DateTimeField(_("签发时间"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("签发人"),
    )
    expires_at = models.DateTimeField(_("到期时间"))
    revoked_at = models.DateTimeField(_("吊销时间"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("吊销人"),
    )
    last_used_at = models.DateTimeField(_("最近使用时间"), null=True, blank=True)

    region_lookup = "client__region_id"

    class Meta:
        verbose_name = _("接口令牌")
        verbose_name_plural = _("接口令牌")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.prefix}…"

    @property
    def usable(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()

    def audit_context(self) -> dict:
        return {"region_code": self.client.region_id}


class ApiPush(models.Model):
    """One push request under an idempotency key: a retry with the same key answers with the same batch."""

    client = models.ForeignKey(ApiClient, on_delete=models.PROTECT, related_name="+", verbose_name=_("客户端"))
    idempotency_key = models.CharField(_("幂等键"), max_length=100)
    request_sha256 = models.CharField(_("请求内容摘要"), max_length=64)
    batch = models.ForeignKey(
        "exchange.ImportBatch", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("导入批次"),
    )
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)

    region_lookup = "client__region_id"

    class Meta:
        verbose_name = _("接口报送")
        verbose_name_plural = _("接口报送")
        constraints = [
            models.UniqueConstraint(fields=["client", "idempotency_key"], name="api_push_key_once_per_client")
        ]

    def __str__(self) -> str:
        return f"{self.client_id} {self.idempotency_key}"


class Share(models.Model):
    """One answer of a pull: which client read which dataset, when, through which endpoint, for what purpose."""

    client = models.ForeignKey(ApiClient, on_delete=models.PROTECT, related_name="shares", verbose_name=_("客户端"))
    token = models.ForeignKey(
        ApiToken, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("令牌")
    )
    at = models.DateTimeField(_("时间"), default=timezone.now)
    endpoint = models.CharField(_("接口"), max_length=200)
    dataset = models.CharField(_("数据集"), max_length=40)
    purpose = models.CharField(_("用途"), max_length=200)
    fields = models.JSONField(_("字段"), default=list)
    parameters = models.JSONField(_("请求参数"), default=dict, blank=True)
    person_count = models.PositiveIntegerField(_("人数"), default=0)
    region_code = models.CharField(_("区划代码"), max_length=12, help_text=_("客户端所属区划"))

    region_lookup = "region_code"

    class Meta:
        verbose_name = _("数据共享记录")
        verbose_name_plural = _("数据共享记录")
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["client", "-at"], name="share_client_at_idx"),
            models.Index(fields=["region_code", "-at"], name="share_region_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.client_id} {self.dataset} {self.at:%Y-%m-%d %H:%M}"


class SharedPerson(models.Model):
    """A person whose record left in a share. region_code is the person's village when shared."""

    share = models.ForeignKey(Share, on_delete=models.PROTECT, related_name="persons", verbose_name=_("共享记录"))
    person_id = models.BigIntegerField(_("人员"))
    household_id = models.BigIntegerField(_("户"))
    region_code = models.CharField(_("所在村代码"), max_length=12)

    region_lookup = "region_code"

    class Meta:
        verbose_name = _("共享人员")
        verbose_name_plural = _("共享人员")
        indexes = [
            models.Index(fields=["person_id", "share"], name="shared_person_idx"),
            models.Index(fields=["household_id", "share"], name="shared_household_idx"),
        ]
        constraints = [models.UniqueConstraint(fields=["share", "person_id"], name="shared_person_once_per_share")]

    def __str__(self) -> str:
        return f"{self.share_id} {self.person_id}"

