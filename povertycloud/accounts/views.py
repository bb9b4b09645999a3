"""Logging in, for the site and the admin alike: one view, throttled and audited the same way.

The admin's login page (/admin/login/) is AdminLoginView, a ThrottledLoginView with the admin's form and
template (povertycloud/urls.py routes it before the admin's own URLs), so a guesser gains nothing by
trying there.
"""

import datetime as dt
import math

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import REDIRECT_FIELD_NAME, get_user_model
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from povertycloud.accounts import throttle
from povertycloud.audit.services import record_event


def lock_message(until: dt.datetime) -> str:
    """登录失败次数过多…请于 14:35 之后再试: the time the lock ends, in the user's language and time zone."""
    local = timezone.localtime(until)
    today = timezone.localdate()
    when = formats.time_format(local) if local.date() == today else formats.date_format(local, "DATETIME_FORMAT")
    minutes = max(1, math.ceil((until - timezone.now()).total_seconds() / 60))
    return _("登录失败次数过多，已暂时锁定。请于 %(time)s 之后再试（约 %(minutes)d 分钟后）。") % {
        "time": when, "minutes": minutes,
    }


class ThrottledFormMixin:
    """While an account or address is locked, the form refuses without checking the password.

    Checking it would tell someone guessing passwords whether a guess was right, lock or no lock.
    """

    locked_until: dt.datetime | None = None

    def clean(self):
        if self.locked_until is not None:
            raise ValidationError(lock_message(self.locked_until), code="throttled")
        return super().clean()


class ThrottledAuthenticationForm(ThrottledFormMixin, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(ThrottledFormMixin, AdminAuthenticationForm):
    pass


class ThrottledLoginView(LoginView):
    template_name = "registration/login.html"
    form_class = ThrottledAuthenticationForm
    redirect_authenticated_user = True
    where = ""  # said in the audit note: "" for the site, "（管理后台）" for the admin

    def _address(self) -> str:
        return self.request.META.get("REMOTE_ADDR", "")

    def _username(self) -> str:
        raw = (self.request.POST.get("username") or "").strip()
        return get_user_model().normalize_username(raw)[:150]

    def _record_failure(self, note: str) -> None:
        record_event(
            actor=None, action="login_failed", entity="accounts.user", object_repr=self._username(),
            note=note + str(self.where),
        )

    def post(self, request, *args, **kwargs):
        username = request.POST.get("username", "")
        until = throttle.locked_until(username, self._address())
        if until is not None:
            form = self.get_form()
            form.locked_until = until
            form.is_valid()
            self._record_failure(_("来自 %(address)s；尝试次数过多，已拒绝") % {"address": self._address()})
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        username = form.data.get("username", "")
        throttle.note_failure(username, self._address())
        self._record_failure(_("来自 %(address)s") % {"address": self._address()})
        until = throttle.locked_until(username, self._address())
        if until is not None:  # this failure locked the account (or the address): say so, and until when
            form.add_error(None, ValidationError(lock_message(until), code="throttled"))
        return super().form_invalid(form)

    def form_valid(self, form):
        throttle.clear(form.get_user().get_username(), self._address())
        return super().form_valid(form)


class AdminLoginView(ThrottledLoginView):
    """The admin's login page, throttled and audited as the site's (django.contrib.admin.AdminSite.login)."""

    template_name = "admin/login.html"
    form_class = ThrottledAdminAuthenticationForm
    redirect_authenticated_user = False
    where = gettext_lazy("（管理后台）")

    def dispatch(self, request, *args, **kwargs):
        request.current_app = admin.site.name
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, *args, **kwargs):
        if admin.site.has_permission(request):
            return HttpResponseRedirect(reverse("admin:index", current_app=admin.site.name))
        return super().get(request, *args, **kwargs)

    def get_default_redirect_url(self):
        return reverse("admin:index", current_app=admin.site.name)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            admin.site.each_context(self.request),
            title=_("登录"),
            subtitle=None,
            app_path=self.request.get_full_path(),
            username=self.request.user.get_username(),
        )
        if REDIRECT_FIELD_NAME not in self.request.GET and REDIRECT_FIELD_NAME not in self.request.POST:
            context[REDIRECT_FIELD_NAME] = reverse("admin:index", current_app=admin.site.name)
        return context
