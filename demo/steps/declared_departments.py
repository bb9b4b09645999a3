"""The demo's declared departments (issue #17), by the road a real county takes: the declarations of
fixtures/departments/*.json go in through the declaration service, and the departments' files through the
department import, one batch each.
"""

from pathlib import Path

from django.conf import settings

from demo.county.declared_files import FORMATS, file_name
from exchange.feeds.declare import declaration_of, declare_from_file, read_declaration_file
from exchange.feeds.models import DepartmentFeed
from exchange.models import ImportBatch
from exchange.pipeline import import_department_file

DECLARATIONS = Path(settings.BASE_DIR) / "fixtures" / "departments"


def _as_declared(declaration: dict) -> dict:
    """A declaration as declare_feed stores it (defaults filled in), to compare with declaration_of(feed)."""

    def number(value):
        return None if value in (None, "") else float(value)

    return {
        "slug": str(declaration.get("slug") or "").strip(),
        "name": str(declaration.get("name") or "").strip(),
        "name_en": str(declaration.get("name_en") or "").strip(),
        "description": str(declaration.get("description") or "").strip(),
        "full_snapshot": bool(declaration.get("full_snapshot", True)),
        "active": bool(declaration.get("active", True)),
        "columns": [
            {
                "column": str(column["column"]).strip(),
                "label_en": str(column.get("label_en") or "").strip(),
                "key": str(column["key"]).strip(),
                "kind": str(column.get("kind") or "text"),
                "required": bool(column.get("required", False)) or column["key"] == "id_number",
                "codeset": str(column.get("codeset") or "").strip(),
                "min_value": number(column.get("min_value")),
                "max_value": number(column.get("max_value")),
                "max_length": int(column.get("max_length", 100)),
                "required_when": str(column.get("required_when") or ""),
                "sensitive": bool(column.get("sensitive", False)),
            }
            for column in declaration.get("columns") or []
        ],
    }


def _already_declared(declaration: dict) -> bool:
    feed = DepartmentFeed.objects.filter(slug=str(declaration.get("slug") or "").strip()).first()
    return feed is not None and declaration_of(feed) == _as_declared(declaration)


def declare_demo_departments(*, by) -> list[DepartmentFeed]:
    """Declare every fixtures/departments/*.json through declare_from_file; a file whose every department is
    already declared with the same declaration is skipped (a re-run changes nothing). Returns the feeds declared
    now."""
    declared = []
    for path in sorted(DECLARATIONS.glob("*.json")):
        if all(_already_declared(d) for d in read_declaration_file(path)):
            continue
        declared += declare_from_file(path=path, by=by)
    return declared


def import_declared_files(*, folder: Path, region_code: str, by) -> list[ImportBatch]:
    """Import each declared department's file of the folder (demo.county.declared_files) through the department
    import; a file imported before returns its earlier batch (``already_imported``). Missing files are skipped."""
    batches = []
    for slug in FORMATS:
        path = Path(folder) / file_name(slug)
        if path.is_file():
            batches.append(import_department_file(department=slug, path=path, by=by, region_code=region_code))
    return batches
