from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from eligibility.services import CrossCheckError, load_cross_checks
from exchange.commands import user_named


class Command(BaseCommand):
    help = (
        "Create or update the eligibility cross-checks (比对规则) of a JSON file by their code, each validated "
        "against the declared departments (all or none) and audited. Default: fixtures/cross_checks.json."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "file", nargs="?", type=Path, default=Path(settings.BASE_DIR) / "fixtures" / "cross_checks.json",
            help="JSON file: {\"cross_checks\": [...]} (default fixtures/cross_checks.json)",
        )
        parser.add_argument("--user", help="username recorded in the audit trail")

    def handle(self, *args, file, user, **options):
        actor = user_named(user)
        try:
            saved = load_cross_checks(path=file, by=actor)
        except CrossCheckError as exc:
            raise CommandError("\n".join(exc.messages)) from exc
        for check, created in saved:
            state = _("新增") if created else _("更新")
            self.stdout.write(f"  {state} {check.code}：{check.name}")
        self.stdout.write(self.style.SUCCESS(_("已载入 %(n)s 条比对规则。") % {"n": len(saved)}))
