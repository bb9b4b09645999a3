"""Shared builders of the modelling tests: a small generated county kept for a whole test module, and
hand-made households with incomes, status history and department records."""

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import transaction

from demo.county.department_files import CIVIL_AFFAIRS, EDUCATION, HEALTH
from demo.county.generator import generate_county, load_county
from exchange.pipeline import import_department_file
from households.models import Household, StatusChange
from households.monitoring import DEMO_THRESHOLDS, load_thresholds_csv
from povertycloud.regions.services import load_regions_csv
from tests.factories import COUNTY

SMALL_COUNTY = {"persons": 1800, "seed": 11}


def load_reference_data() -> None:
    load_regions_csv(Path(settings.BASE_DIR) / "fixtures" / "regions_leishan.csv")
    load_thresholds_csv(DEMO_THRESHOLDS)


@contextmanager
def module_data(django_db_blocker) -> Iterator[None]:
    """Data made once for a test module, inside a transaction rolled back when the module is done (each test
    still runs in its own savepoint), so no other module sees it."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield
        transaction.set_rollback(True)


def build_small_county(
    out_dir: Path,
    *,
    persons: int = SMALL_COUNTY["persons"],
    seed: int = SMALL_COUNTY["seed"],
    departments=True,
):
    """The demo county in small, with its department files (period 2025-12) imported and linked."""
    load_reference_data()
    generate_county(persons=persons, seed=seed, out_dir=out_dir)
    load_county(summary_or_dir=out_dir)
    for spec in (CIVIL_AFFAIRS, HEALTH, EDUCATION) if departments else ():
        import_department_file(department=spec.key, path=out_dir / spec.filename, by=None, region_code=COUNTY)


def train_and_activate(*, seed: int, admin_username: str):
    """Train both targets' models on every household and activate the XGBoost ones; returns the admin."""
    from povertycloud.accounts.models import Role, User
    from risk.models import RiskModel
    from risk.registry import activate_model
    from risk.training import train_risk_models

    admin = User.objects.create(username=admin_username, role=Role.ADMIN, is_superuser=True, is_staff=True)
    for model in train_risk_models(seed=seed).models:
        if model.kind == RiskModel.Kind.XGBOOST:
            # The small county's return model may not beat logistic regression: the tests need it active.
            reason = "测试县样本少，启用 XGBoost 以测试评分" if model.beats_baseline is False else ""
            activate_model(by=admin, model=model, override_reason=reason)
    return admin


def status(household: Household, on: dt.date, event: str, monitoring_type: str = "", risk_types: str = ""):
    return StatusChange.objects.create(
        household=household,
        effective_date=on,
        event=event,
        household_type=household.household_type,
        poverty_attribute=household.poverty_attribute,
        monitoring_type=monitoring_type,
        risk_types=risk_types,
        reason="测试",
    )
