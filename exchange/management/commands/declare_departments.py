from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.translation import gettext as _

from exchange.commands import user_named
from exchange.feeds.declare import (
    DeclarationError,
    check_declaration,
    declare_from_file,
    read_declaration_file,
)
from exchange.feeds.models import DepartmentFeed
from povertycloud.regions.scoping import sees_everything


class Command(BaseCommand):
    help = (
        "Declare departments as data (声明部门) from declaration files such as fixtures/departments/*.json: "
        "declare_departments FILE [FILE ...] [--user ADMIN] [--check]. Each declaration is checked; a department "
        "declared before gets a new version. All files or none: any error is printed with every reason, the "
        "command exits non-zero and nothing changes. --check only checks."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", type=Path, help="declaration files (UTF-8 JSON)")
        parser.add_argument("--check", action="store_true", help="check the files, write nothing")
        parser.add_argument("--user", help="the administrator recorded as declaring them (default: none)")

    def handle(self, *args, files: list[Path], check: bool, user: str | None, **options):
        by = user_named(user)
        if by is not None and not sees_everything(by):
            raise CommandError(_("只有系统管理员可以声明部门：%(username)s 不是。") % {"username": by.username})
        if check:
            return self._check(files)
        try:
            with transaction.atomic():
                declared = [feed for path in files for feed in self._declare(path, by)]
        except DeclarationError as error:
            raise CommandError(_("未声明任何部门。")) from error
        for feed in declared:
            self._print(feed)

    def _declare(self, path: Path, by) -> list[DepartmentFeed]:
        try:
            return declare_from_file(path=path, by=by)
        except DeclarationError as error:
            self._errors(path, error.messages)
            raise

    def _check(self, files: list[Path]) -> None:
        failed = False
        for path in files:
            try:
                declarations = read_declaration_file(path)
            except DeclarationError as error:
                self._errors(path, error.messages)
                failed = True
                continue
            for declaration in declarations:
                slug = str(declaration.get("slug") or "")
                existing = DepartmentFeed.objects.filter(slug=slug).first() if slug else None
                errors = check_declaration(declaration, existing=existing)
                if errors:
                    self._errors(path, errors, slug)
                    failed = True
                else:
                    self.stdout.write(
                        _("%(file)s：%(slug)s 无误（%(columns)s 列）。")
                        % {"file": path.name, "slug": slug, "columns": len(declaration.get("columns") or [])}
                    )
        if failed:
            raise CommandError(_("声明文件有误，未写入任何内容。"))
        self.stdout.write(_("只做了检查，未写入任何内容。"))

    def _errors(self, path: Path, errors: list[str], slug: str = "") -> None:
        where = f"{path.name} {slug}".strip()
        for message in errors:
            self.stderr.write(f"{where}：{message}")

    def _print(self, feed: DepartmentFeed) -> None:
        columns = ", ".join(f"{c.column}({c.key}:{c.kind})" for c in feed.columns.all())
        self.stdout.write(
            _("已声明 %(slug)s %(name)s 第 %(version)s 版：%(columns)s")
            % {"slug": feed.slug, "name": feed.name, "version": feed.version, "columns": columns}
        )
