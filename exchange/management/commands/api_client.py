from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from exchange.api.datasets import all_scopes
from exchange.api.models import ApiClient, ApiToken
from exchange.api.services import MAX_TOKEN_DAYS, TOKEN_DAYS, create_client, issue_token, revoke_token
from exchange.commands import user_named
from povertycloud.regions.models import Region


class Command(BaseCommand):
    help = (
        "Department API clients (部门接口客户端). "
        "api_client create --name 县医保局 --department health --region 522634000000 --scope push:health "
        "--scope pull:health_premium --by ADMIN: creates the client and prints its first token, once. "
        "api_client token --client ID --by ADMIN [--days N]: issues another token (printed once). "
        "api_client revoke --token PREFIX --by ADMIN: revokes a token (pc_xxxxxxxx, as the admin lists it). "
        "api_client list: the clients and their tokens' state. Scopes: "
        + ", ".join(scope for scope, _label in all_scopes())
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["create", "token", "revoke", "list"])
        parser.add_argument("--name", help="the client's name, e.g. 县医保局")
        parser.add_argument("--department", help="the department it pushes for (a declared slug)")
        parser.add_argument("--region", help="12-digit code of the client's region (usually a county)")
        parser.add_argument("--scope", action="append", default=[], help="a scope it may use (repeat)")
        parser.add_argument("--purpose", default="", help="what it reads data for (recorded with each share)")
        parser.add_argument("--rate", type=int, default=120, help="requests per minute (default 120)")
        parser.add_argument("--days", type=int, default=TOKEN_DAYS, help=f"token validity, 1–{MAX_TOKEN_DAYS} days")
        parser.add_argument("--client", type=int, help="client id (token)")
        parser.add_argument("--token", help="token prefix (revoke)")
        parser.add_argument("--by", help="the administrator doing it (recorded in the audit trail)")

    def handle(self, *args, action: str, **options):
        try:
            if action == "list":
                return self._list()
            by = user_named(options["by"])
            if by is None:
                raise CommandError(_("请用 --by 指定执行操作的系统管理员。"))
            if action == "create":
                return self._create(by, options)
            if action == "token":
                client = ApiClient.objects.filter(pk=options["client"]).first()
                if client is None:
                    raise CommandError(_("接口客户端 %(id)s 不存在。") % {"id": options["client"]})
                return self._print_token(issue_token(client=client, by=by, days=options["days"]))
            token = ApiToken.objects.filter(prefix=options["token"] or "").select_related("client").first()
            if token is None:
                raise CommandError(_("令牌 %(prefix)s 不存在。") % {"prefix": options["token"]})
            revoke_token(token=token, by=by)
            revoked = {"client": token.client, "prefix": token.prefix}
            self.stdout.write(_("已吊销 %(client)s 的令牌 %(prefix)s…") % revoked)
        except (PermissionDenied, ValidationError) as exc:
            raise CommandError("；".join(getattr(exc, "messages", [str(exc)]))) from exc

    def _create(self, by, options) -> None:
        missing = [name for name in ("name", "department", "region") if not options[name]]
        if missing:
            raise CommandError(_("缺少参数：%(names)s") % {"names": ", ".join(f"--{name}" for name in missing)})
        region = Region.objects.filter(code=options["region"]).first()
        if region is None:
            raise CommandError(_("区划代码 %(code)s 不存在。") % {"code": options["region"]})
        client = create_client(
            name=options["name"], department=options["department"], region=region, scopes=options["scope"],
            purpose=options["purpose"], rate_per_minute=options["rate"], by=by,
        )
        self.stdout.write(_("已创建接口客户端 #%(id)s %(name)s。") % {"id": client.pk, "name": client.name})
        self._print_token(issue_token(client=client, by=by, days=options["days"]))

    def _print_token(self, issued) -> None:
        self.stdout.write(
            _("令牌（只显示这一次，%(expires)s 到期）：") % {"expires": f"{issued.token.expires_at:%Y-%m-%d}"}
        )
        self.stdout.write(issued.secret)

    def _list(self) -> None:
        for client in ApiClient.objects.select_related("region").prefetch_related("tokens"):
            usable = sum(1 for token in client.tokens.all() if token.usable)
            self.stdout.write(
                f"#{client.pk} {client.name} {client.department} {client.region.code} "
                f"{','.join(client.scopes)} {'active' if client.active else 'disabled'} tokens={usable}"
            )
