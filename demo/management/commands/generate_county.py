from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from demo.county.declared_files import write_declared_files
from demo.county.disability_file import write_disability_file
from demo.county.generator import GenerationError, generate_county

DEFAULT_OUT = Path(settings.VAR_DIR) / "demo" / "county_files"


class Command(BaseCommand):
    help = (
        "Generate a synthetic county as the files a real county has: the national system's registry export "
        "(户信息, 成员信息, 收支信息 with a year column, 状态变更; CSV) and the latest period's department files "
        "(民政 CSV in GBK, 医保 CSV in UTF-8, 教育 XLSX), and the files of the departments declared as data "
        "(fixtures/departments: 公安, 住建, 人社, 市场监管, 财政, 不动产; demo/county/declared_files.py). "
        "By default the demo county (雷山县 522634, income 2021–2025); --regions-file writes the county of any "
        "statistical code list instead (its code, villages "
        "and ID region read from the list; the database's regions are not touched) and --income-years limits "
        "the income table (e.g. --income-years 2025 for a county with one year). Nothing is written to the "
        "household file: load the export with load_regions and import_registry (build_demo does). "
        "The same --seed gives the same data. See docs/demo-county.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("--persons", type=int, required=True, help="how many people to generate")
        parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
        parser.add_argument(
            "--out", default=str(DEFAULT_OUT), help=f"directory of the files written ({DEFAULT_OUT})"
        )
        parser.add_argument(
            "--regions-file",
            type=Path,
            help="a county's statistical code list (CSV, as load_regions takes it); default the demo county",
        )
        parser.add_argument(
            "--income-years",
            type=int,
            nargs="+",
            help="income years written to 收支信息 (default 2021–2025; e.g. 2025 for one year)",
        )

    def handle(self, *args, **options):
        if options["persons"] < 1:
            raise CommandError("--persons 至少为 1。")
        bar = tqdm(total=options["persons"], unit="人", file=self.stderr, disable=options["verbosity"] == 0)
        try:
            summary = generate_county(
                persons=options["persons"],
                seed=options["seed"],
                out_dir=Path(options["out"]),
                progress=bar.update,
                regions_file=options["regions_file"],
                income_years=options["income_years"],
            )
        except GenerationError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        if summary.regions_loaded:
            self.stdout.write("已载入演示县区划（fixtures/regions_leishan.csv）。")
        self.stdout.write(summary.note())
        for manifest in summary.registry_files.values():
            self.stdout.write(f"  {manifest['file']}: {manifest['rows']} 行（{manifest['encoding']}）")
        for manifest in summary.files.values():
            faults = ", ".join(f"{name} {count}" for name, count in manifest["faults"].items())
            self.stdout.write(
                f"  {manifest['file']}: {manifest['rows']} 行（{manifest['encoding']}）；故障行：{faults}"
            )
        for manifest in write_declared_files(
            folder=Path(options["out"]), seed=options["seed"], regions_file=options["regions_file"]
        ).values():
            faults = ", ".join(f"{name} {count}" for name, count in manifest["faults"].items())
            planted = ", ".join(f"{name} {count}" for name, count in manifest["planted"].items())
            planted = f"；比对案例：{planted}" if planted else ""
            self.stdout.write(
                f"  {manifest['file']}: {manifest['rows']} 行（{manifest['encoding']}）；故障行：{faults}{planted}"
            )
        disability = write_disability_file(folder=Path(options["out"]), seed=options["seed"])
        self.stdout.write(f"  {disability['file']}: {disability['rows']} 行（{disability['encoding']}）")
        rate = summary.persons / summary.seconds if summary.seconds else 0
        self.stdout.write(self.style.SUCCESS(f"完成，用时 {summary.seconds:.1f} 秒（{rate:,.0f} 人/秒）。"))
