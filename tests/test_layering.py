"""The apps depend one way: demo → reports → eligibility → resources → risk → exchange → households → povertycloud.

A module may import its own app and the apps below it, never one above: households knows nothing of the
department exchange, exchange nothing of risk, and no app below demo imports the demo builders.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["povertycloud", "households", "exchange", "risk", "resources", "eligibility", "reports", "demo"]


def imported_apps(path: Path) -> set[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in LAYERS:
                found.add((top, node.lineno))
    return found


def app_modules(app: str) -> list[Path]:
    return [p for p in (ROOT / app).rglob("*.py") if "migrations" not in p.parts]


@pytest.mark.parametrize("app", LAYERS)
def test_no_module_imports_an_app_above_its_own(app):
    rank = LAYERS.index(app)
    upward = [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for path in app_modules(app)
        for target, line in sorted(imported_apps(path))
        if LAYERS.index(target) > rank
    ]
    assert upward == []


def test_the_household_file_holds_no_department_exchange_or_demo_code():
    assert not (ROOT / "households" / "feeds").exists()
    assert not (ROOT / "households" / "demo").exists()
    assert not (ROOT / "households" / "resources.py").exists()
    assert (ROOT / "exchange" / "pipeline.py").exists()
    assert (ROOT / "demo" / "county" / "generator.py").exists()
