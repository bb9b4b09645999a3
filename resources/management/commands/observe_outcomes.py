import datetime as dt

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from povertycloud.regions.models import Region
from resources.outcomes import observe_outcomes


class Command(BaseCommand):
    help = (
        "Observe the outcome indicators (income per head, members in work, enrolment, basic medical insurance, "
        "safe housing, safe water) of a region's followed households as of a date, each traced to its source, "
        "and record returns to monitoring after an elimination. Observing the same day again replaces that "
        "day's values. Run it after each income survey or department import, or monthly."
    )

    def add_arguments(self, parser):
        parser.add_argument("--region", required=True, help="12-digit region code (county or township)")
        parser.add_argument("--as-of", type=dt.date.fromisoformat, help="date of the observation (default today)")
        parser.add_argument("--user", help="username recorded as the observer (default: the system)")

    def handle(self, *args, region, as_of, user, **options):
        place = Region.objects.filter(code=region).first()
        if place is None:
            raise CommandError(_("区划代码 %(region)s 不存在。") % {"region": region})
        actor = None
        if user:
            actor = get_user_model().objects.filter(username=user).first()
            if actor is None:
                raise CommandError(_("用户 %(user)s 不存在。") % {"user": user})
        try:
            counts = observe_outcomes(region=place, as_of=as_of or timezone.localdate(), by=actor)
        except (ValidationError, PermissionDenied) as exc:
            raise CommandError(_("；").join(getattr(exc, "messages", [str(exc)]))) from exc
        self.stdout.write(
            _("%(region)s：观测 %(households)s 户，成效观测 %(observations)s 条，新记录消除后返贫 %(returns)s 户。")
            % {
                "region": place.name, "households": counts.households, "observations": counts.observations,
                "returns": counts.returns,
            }
        )
