import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from demo.county.declared_files import write_declared_files, written
from demo.county.generator import load_county
from demo.county.registry_files import FILE_NAMES as REGISTRY_FILE_NAMES
from demo.steps.cross_checks import run_demo_cross_checks
from demo.steps.declared_departments import declare_demo_departments, import_declared_files
from demo.steps.department_api import curl_lines, ensure_demo_clients, run_demo_exchanges
from demo.steps.registry_update import import_follow_up_export, write_follow_up_export
from demo.steps.reports import build_demo_report
from demo.steps.resources import record_demo_assistance
from demo.steps.risk import run_risk_demo
from demo.users import ensure_demo_users
from eligibility.models import CrossCheckRun
from exchange.models import ImportBatch
from exchange.pipeline import import_department_file
from households.models import Household
from households.monitoring import DEMO_THRESHOLDS
from povertycloud.regions.models import Region
from povertycloud.regions.selectors import full_name
from povertycloud.regions.services import load_regions_csv
from reports.models import Report
from resources.models import AssistanceMeasure
from risk.models import RiskModel

REGIONS_FILE = Path(settings.BASE_DIR) / "fixtures" / "regions_leishan.csv"
COUNTY = "522634000000"
TOKEN_DAYS_NOTE = "每次运行 make demo 重新签发，30 天内有效"
DEPARTMENT_FILES = (
    ("civil_affairs", "civil_affairs_2025-12.csv"),
    ("health", "health_2025-12.csv"),
    ("education", "education_2025-12.xlsx"),
    ("disability", "disability_2025-12.csv"),
)

ASSISTANCE_LABELS = {
    "measures": "帮扶措施",
    "observed_households": "观测户数",
    "observations": "成效观测",
    "returns": "消除后返贫",
    "eliminations_applied": "申请风险消除",
    "eliminations_township_approved": "乡镇审核通过",
    "eliminations_approved": "县级审定消除",
}


class Command(BaseCommand):
    help = (
        "Build the demo county (雷山县) and run every capability the system has on it: migrate, load the "
        "region tree and monitoring thresholds, generate the county's registry export and department files, "
        "import them through the registry import and the department imports, create demo users, run the "
        "warning rules, train and activate the risk models, score the county, take a few cases through "
        "review, record assistance and outcomes and take a few households through risk elimination, run the "
        "eligibility cross-checks and verify a few of their hits, and "
        "generate a county performance report. Re-running keeps an existing county unless --rebuild is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("--persons", type=int, default=20000, help="people in the generated county")
        parser.add_argument("--seed", type=int, default=2026, help="random seed of the generator")
        parser.add_argument(
            "--rebuild",
            action="store_true",
            help="start again from an empty database (SQLite only: the demo database file is deleted)",
        )

    def handle(self, *args, persons: int, seed: int, rebuild: bool, **options):
        started = time.monotonic()
        if rebuild:
            self._delete_demo_database()
        call_command("migrate", verbosity=0)
        load_regions_csv(REGIONS_FILE)
        call_command("load_thresholds", str(DEMO_THRESHOLDS), verbosity=0)
        out = Path(settings.VAR_DIR) / "demo" / "county_files"
        fresh = rebuild or not Household.objects.exists()
        if fresh:
            call_command("generate_county", persons=persons, seed=seed, out=str(out))
            self._import_registry(out)
        else:
            self.stdout.write(f"已有 {Household.objects.count()} 户，沿用现有演示数据（--rebuild 重新生成）。")
        self._import_department_files(out)
        self._import_declared_files(out, seed)
        users = ensure_demo_users()
        if fresh:
            self._import_follow_up(out, seed, dict((spec.username, user) for spec, user in users))
        self._run_risk(dict((spec.username, user) for spec, user in users))
        tokens = ensure_demo_clients(region_code=COUNTY, admin=dict((s.username, u) for s, u in users)["admin"])
        run_demo_exchanges(tokens=tokens, say=self.stdout.write)
        self._record_assistance(seed)
        self._run_cross_checks(dict((spec.username, user) for spec, user in users))
        self._build_report(dict((spec.username, user) for spec, user in users))
        self._precompute()
        self.stdout.write(self.style.SUCCESS(f"演示县已就绪，用时 {time.monotonic() - started:.0f} 秒。"))
        self.stdout.write("\n演示用户（用户名 / 密码 / 角色 / 辖区）：")
        for spec, user in users:
            region = Region.objects.filter(code=spec.region_code).first() if spec.region_code else None
            where = full_name(region) if region else "全部"
            self.stdout.write(f"  {spec.username:<10} {spec.password:<20} {user.get_role_display():<8} {where}")
        self.stdout.write(
            f"\n部门接口客户端和令牌（{TOKEN_DAYS_NOTE}；接口文档 http://127.0.0.1:8000/api/docs/）："
        )
        for line in curl_lines(tokens):
            self.stdout.write(line)
        self.stdout.write("\n打开 http://127.0.0.1:8000/ 登录。\n")

    def _delete_demo_database(self) -> None:
        if connection.vendor != "sqlite":
            raise CommandError("--rebuild 只用于 SQLite 演示库；PostgreSQL 请换一个空数据库（DATABASE_URL）。")
        path = Path(connection.settings_dict["NAME"])
        connection.close()
        for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            stale.unlink(missing_ok=True)
        self.stdout.write(f"已删除演示数据库 {path}，重新建库。")

    def _run_risk(self, users: dict) -> None:
        if RiskModel.objects.exists():
            self.stdout.write("已有风险模型，沿用现有评分和核实记录（--rebuild 重新生成）。")
            return
        self.stdout.write("风险：运行部门预警规则，训练并启用模型，评分，生成待核实名单……")
        run_risk_demo(
            county=COUNTY,
            admin=users["admin"],
            reviewer=users["county"],
            officials=[users["xijiang"], users["langde"]],
            say=self.stdout.write,
        )

    def _record_assistance(self, seed: int) -> None:
        if AssistanceMeasure.objects.exists():
            self.stdout.write("已有帮扶措施，沿用现有记录。")
            return
        counts = record_demo_assistance(region_code=COUNTY, seed=seed)
        said = "，".join(f"{ASSISTANCE_LABELS.get(key, key)} {value}" for key, value in counts.items())
        self.stdout.write(f"帮扶与成效：{said}。")

    def _run_cross_checks(self, users: dict) -> None:
        if CrossCheckRun.objects.exists():
            self.stdout.write("已有资格比对结果，沿用。")
            return
        run_demo_cross_checks(
            county_code=COUNTY,
            as_of=timezone.localdate(),
            admin=users["admin"],
            officials=[users["xijiang"], users["langde"]],
            say=self.stdout.write,
        )

    def _precompute(self) -> None:
        """The numbers the dashboards and the data-quality page read, computed now (the commands a county runs
        on a schedule), so the first visit finds them; later changes queue their own refresh for the worker."""
        call_command("refresh_quality_counts", region=COUNTY, stdout=self.stdout)
        call_command("refresh_dashboards", region=COUNTY, now=True, stdout=self.stdout)

    def _build_report(self, users: dict) -> None:
        if Report.objects.exists():
            self.stdout.write("已有成效考核报告，沿用。")
            return
        report = build_demo_report(region_code=COUNTY, by=users["county"])
        self.stdout.write(
            f"成效考核报告（{report.period_start:%Y-%m-%d} 至 {report.period_end:%Y-%m-%d}）已生成："
            f"XLSX、PDF 和台账 CSV，数据摘要 {report.data_hash[:12]}…"
        )

    def _import_registry(self, folder: Path) -> None:
        """The generated export goes in through the registry import, as a real county's does."""
        batch = load_county(summary_or_dir=folder)
        self.stdout.write(f"导入户档案（批次 #{batch.pk}）：{batch.note}")
        if batch.rejected_rows:
            raise CommandError(
                f"演示县的户档案有 {batch.rejected_rows} 行被拒收：生成器有误，请查看批次 #{batch.pk}。"
            )

    def _import_follow_up(self, folder: Path, seed: int, users: dict) -> None:
        """The county's next export (30 June): members who left are closed, one an official edited meanwhile
        is listed as a conflict for the township (demo/steps/registry_update.py)."""
        official = users["xijiang"]
        follow_up = write_follow_up_export(
            folder, folder.with_name("county_files_2026-06"), seed=seed, township_prefix=official.region.prefix
        )
        batch = import_follow_up_export(
            follow_up, region_code=COUNTY, official=official, importer=users["county"]
        )
        self.stdout.write(f"导入第二次户档案导出（批次 #{batch.pk}，截至 2026-06-30）：{batch.note}")

    def _import_department_files(self, folder: Path) -> None:
        for department, name in DEPARTMENT_FILES:
            path = folder / name
            if not path.exists():
                self.stdout.write(f"没有找到 {path}，跳过 {department} 的导入。")
                continue
            batch = import_department_file(department=department, path=path, by=None, region_code=COUNTY)
            if getattr(batch, "already_imported", False):
                self.stdout.write(f"{name}：此前已导入（批次 {batch.pk}）。")
                continue
            self.stdout.write(
                f"导入 {name}：共 {batch.total_rows} 行，接收 {batch.accepted_rows}，拒收 {batch.rejected_rows}，"
                f"关联到人 {batch.linked_rows}，未关联 {batch.unlinked_rows}。"
            )
        if ImportBatch.objects.filter(status=ImportBatch.Status.FAILED).exists():
            self.stdout.write(self.style.WARNING("有导入批次失败，请在“部门数据”页面查看原因。"))

    def _import_declared_files(self, folder: Path, seed: int) -> None:
        """The departments declared as data (fixtures/departments) are declared, and their files imported, as a
        real county's are; the files are written from the county's registry export when they are missing."""
        declare_demo_departments(by=None)
        if not written(folder):
            if not (folder / REGISTRY_FILE_NAMES["members"]).exists():
                self.stdout.write(f"没有找到 {folder} 中的户档案导出，跳过声明部门数据文件的导入。")
                return
            write_declared_files(folder=folder, seed=seed)
        for batch in import_declared_files(folder=folder, region_code=COUNTY, by=None):
            if getattr(batch, "already_imported", False):
                self.stdout.write(f"{batch.file_name}：此前已导入（批次 {batch.pk}）。")
                continue
            self.stdout.write(
                f"导入 {batch.file_name}：共 {batch.total_rows} 行，接收 {batch.accepted_rows}，"
                f"拒收 {batch.rejected_rows}，关联到人 {batch.linked_rows}，未关联 {batch.unlinked_rows}。"
            )
