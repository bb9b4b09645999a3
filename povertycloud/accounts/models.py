from django.contrib.auth.models import AbstractUser
from django.db import models, router, transaction
from django.utils.translation import gettext_lazy as _

from povertycloud.accounts.names import person_name


class Role(models.TextChoices):
    TOWNSHIP_OFFICIAL = "township_official", _("乡镇干部")
    COUNTY_STAFF = "county_staff", _("县级工作人员")
    AUDITOR = "auditor", _("审计人员")
    ADMIN = "admin", _("系统管理员")


class User(AbstractUser):
    role = models.CharField(_("角色"), max_length=32, choices=Role.choices, default=Role.TOWNSHIP_OFFICIAL)
    region = models.ForeignKey(
        "regions.Region",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="users",
        verbose_name=_("所属区划"),
        help_text=_("用户只能看到本区划及其下级的数据。"),
    )
    unit = models.CharField(_("单位"), max_length=100, blank=True)
    sensitive_data_access = models.BooleanField(
        _("可查看敏感信息"),
        default=False,
        help_text=_("审计人员默认看不到证件号码、电话、银行账号和健康信息；勾选后可以查看（每次查看都记入审计日志）。"),
    )

    region_lookup = "region_id"

    class Meta:
        verbose_name = _("用户")
        verbose_name_plural = _("用户")
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(role="admin") | models.Q(region__isnull=False) | models.Q(is_superuser=True)
                ),
                name="user_bound_to_region_unless_admin",
            ),
        ]

    def get_full_name(self) -> str:
        """杨秀英 (family name first, no space) for a Chinese name, "Anna Schmidt" for a Latin one."""
        return person_name(self.first_name, self.last_name)

    def __str__(self) -> str:
        full = self.get_full_name()
        return f"{full}（{self.username}）" if full else self.username

    # Every change to a user's role, region, sensitive data access, admin flags or password is audited here,
    # on the one path all of them take (the admin, the password views, createsuperuser and changepassword,
    # the demo's users, services), not by each caller. See povertycloud.accounts.services.

    _rehashing = False

    def check_password(self, raw_password):
        # A correct password may be re-hashed with the current hasher and saved: not a change of password.
        self._rehashing = True
        try:
            return super().check_password(raw_password)
        finally:
            self._rehashing = False

    def save(self, *args, **kwargs):
        from povertycloud.accounts.services import audited_attnames, record_user_change

        attnames = audited_attnames(kwargs.get("update_fields"))
        if self._rehashing and "password" in attnames:
            attnames.remove("password")
        creating = self._state.adding or self.pk is None
        before = None
        if attnames and not creating:
            before = type(self)._default_manager.filter(pk=self.pk).values(*attnames).first()
            creating = before is None
        with transaction.atomic(using=kwargs.get("using") or router.db_for_write(type(self), instance=self)):
            super().save(*args, **kwargs)
            if attnames:
                record_user_change(user=self, before=None if creating else before, attnames=attnames)

    def delete(self, *args, **kwargs):
        from povertycloud.accounts.services import record_user_removal

        with transaction.atomic(using=kwargs.get("using") or router.db_for_write(type(self), instance=self)):
            record_user_removal(user=self)
            return super().delete(*args, **kwargs)
