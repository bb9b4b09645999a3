import math

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from povertycloud.accounts import throttle
from povertycloud.audit.services import record_event


class ThrottledAuthenticationForm(AuthenticationForm):
    """While an account or address is locked, the form refuses without checking the password.

    Checking it would tell someone guessing passwords whether a guess was right, lock or no lock.
    """

    locked = False

    def clean(self):
        if self.locked:
            minutes = math.ceil(settings.LOGIN_THROTTLE_WINDOW_SECONDS / 60)
            raise ValidationError(_("登录失败次数过多，请 %(minutes)d 分钟后再试。") % {"minutes": minutes},
                                  code="throttled")
        return super().clean()


class ThrottledLoginView(LoginView):
    template_name = "registration/login.html"
    form_class = ThrottledAuthenticationForm
    redirect_authenticated_user = True

    def _address(self) -> str:
        return self.request.META.get("REMOTE_ADDR", "")

    def _record_failure(self, username: str, note: str) -> None:
        record_event(
            actor=None, action="login_failed", entity="accounts.user", object_repr=username[:150], note=note
        )

    def post(self, request, *args, **kwargs):
        username = request.POST.get("username", "")
        if throttle.is_locked(username, self._address()):
            form = self.get_form()
            form.locked = True
            form.is_valid()
            self._record_failure(username, f"来自 {self._address()}；尝试次数过多，已拒绝")
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        username = form.data.get("username", "")
        throttle.note_failure(username, self._address())
        self._record_failure(username, f"来自 {self._address()}")
        return super().form_invalid(form)

    def form_valid(self, form):
        throttle.clear(form.get_user().username, self._address())
        return super().form_valid(form)
