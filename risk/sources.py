"""A region's tables read for the risk models: households, members, incomes, status history, department
records, warnings and monitoring thresholds, one query per table (risk.frames.read_frame).

``Sources.load(region_code=…)`` reads them once; ``sources.at(cutoff)`` hands them to risk.features, which
computes the features for one cut-off in memory, so training on several years reads the database once.
The rules and labels reuse the same region helpers (region_prefix, in_region, monitoring_thresholds).
"""

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from django.utils.translation import gettext

from exchange.models import CivilAffairsRecord, EducationRecord, HealthRecord
from households.models import Household, IncomeRecord, Person, StatusChange
from households.monitoring import thresholds_for
from povertycloud.regions.models import PREFIX_LENGTH, Region
from risk.frames import read_frame
from risk.models import Warning


def region_prefix(region_code: str | None) -> str:
    if not region_code:
        return ""
    region = Region.objects.filter(code=region_code).first()
    if region is None:
        raise ValueError(gettext("区划代码 %(code)s 不存在。") % {"code": region_code})
    return region.prefix


def township_of(village_codes: pd.Series) -> pd.Series:
    width = PREFIX_LENGTH[Region.Level.TOWNSHIP]
    codes, villages = pd.factorize(village_codes)
    townships = np.array([code[:width].ljust(12, "0") for code in villages], dtype=object)
    return pd.Series(townships[codes] if len(codes) else [], index=village_codes.index, dtype=object)


def in_region(queryset, lookup: str, prefix: str):
    return queryset.filter(**{f"{lookup}__startswith": prefix}) if prefix else queryset


def monitoring_thresholds(villages: list[str]) -> pd.DataFrame:
    """(village_id, year) → monitoring threshold, through thresholds_for (the most specific region wins)."""
    rows = [(village, year, float(amount)) for village in villages for year, amount in thresholds_for(village).items()]
    return pd.DataFrame(rows, columns=["village_id", "year", "threshold"]).astype(
        {"village_id": str, "year": np.int64, "threshold": float}
    )


@dataclass
class Sources:
    """The tables of a region, read once (one query each)."""

    prefix: str
    households: pd.DataFrame
    persons: pd.DataFrame
    incomes: pd.DataFrame
    status: pd.DataFrame
    health: pd.DataFrame
    civil: pd.DataFrame
    education: pd.DataFrame
    warnings: pd.DataFrame
    thresholds: pd.DataFrame
    # What the features need of each person regardless of the cut-off; risk.features computes it once.
    attributes_cache: dict[str, np.ndarray] | None = field(default=None, init=False, repr=False)

    @property
    def person_attributes(self) -> dict[str, np.ndarray]:
        if self.attributes_cache is None:
            from risk.features import person_attributes

            frame = person_attributes(self.persons)
            self.attributes_cache = {name: column.to_numpy() for name, column in frame.items()}
        return self.attributes_cache

    @classmethod
    def load(cls, *, region_code: str | None = None) -> "Sources":
        prefix = region_prefix(region_code)
        households = read_frame(
            in_region(Household.objects.all(), "village__pk", prefix),
            [
                "id",
                "village_id",
                "household_type",
                "poverty_attribute",
                "lifted_year",
                "monitoring_type",
                "risk_types",
                "whole_household_unable_to_work",
                "housing_grade",
                "safe_drinking_water",
                "sanitary_toilet",
                "road_to_door",
                "cultivated_land_mu",
                "forest_land_mu",
                "created_at",
                "updated_at",
            ],
            sort=["id"],
        ).set_index("id")
        persons = read_frame(
            in_region(Person.objects.all(), "household__village__pk", prefix),
            [
                "id",
                "household_id",
                "birth_date",
                "sex",
                "relation",
                "health",
                "disability_grade",
                "labour_skill",
                "education",
                "school_status",
                "months_worked_away",
                "public_welfare_job",
                "public_welfare_months",
                "resident_medical_insurance",
                "employee_medical_insurance",
                "dibao",
                "tekun",
                "updated_at",
            ],
            sort=["household_id", "id"],
        )
        incomes = read_frame(
            in_region(IncomeRecord.objects.all(), "household__village__pk", prefix),
            [
                "household_id",
                "year",
                "household_size",
                *IncomeRecord.INCOME_FIELDS,
                "production_cost",
                "temporary_relief",
                "loans",
                "compliant_medical_spending",
                "compliant_education_spending",
                "net_income",
                "per_capita_net_income",
                "survey_date",
            ],
            sort=["household_id", "year"],
        )
        status = read_frame(
            in_region(StatusChange.objects.all(), "household__village__pk", prefix),
            [
                "id",
                "household_id",
                "effective_date",
                "event",
                "household_type",
                "poverty_attribute",
                "monitoring_type",
                "risk_types",
            ],
            sort=["household_id", "effective_date", "id"],
        )
        linked = {"person__isnull": False}
        records = "person__household__village__pk"
        base = ["id", "batch_id", "person_id", "person__household_id", "valid_from", "valid_to"]
        names = ["id", "batch_id", "person_id", "household_id", "valid_from", "valid_to"]
        health_fields = [
            "insured",
            "chronic_diagnosis",
            "serious_diagnosis",
            "serious_diagnosis_date",
            "out_of_pocket_ytd",
            "max_stay_self_pay",
            "monthly_outpatient_cost",
        ]
        health = read_frame(
            in_region(HealthRecord.objects.filter(**linked), records, prefix),
            [*base, *health_fields],
            [*names, *health_fields],
        )
        civil_fields = [
            "dibao_type",
            "dibao_start",
            "dibao_stop",
            "tekun",
            "relief_count",
            "relief_amount",
            "last_relief_date",
            "orphan",
            "unsupported_child",
        ]
        civil = read_frame(
            in_region(CivilAffairsRecord.objects.filter(**linked), records, prefix),
            [*base, *civil_fields],
            [*names, *civil_fields],
        )
        education_fields = ["stage", "dropout", "net_study_cost", "aid_amount", "person__birth_date"]
        education = read_frame(
            in_region(EducationRecord.objects.filter(**linked), records, prefix),
            [*base, *education_fields],
            [*names, *education_fields[:-1], "birth_date"],
        )
        warnings = read_frame(
            Warning.objects.filter(region_code__startswith=prefix), ["household_id", "as_of", "rule_id"]
        )
        thresholds = monitoring_thresholds(sorted(households["village_id"].unique()))
        loaded = cls(prefix, households, persons, incomes, status, health, civil, education, warnings, thresholds)
        # The departments declared as data, read with the rest so that features at any cut-off query nothing.
        from risk.features import load_declared

        loaded.declared_cache = load_declared(prefix)
        return loaded

    def at(self, cutoff: dt.date) -> pd.DataFrame:
        # risk.features builds on this module; imported here so that either can be imported first.
        from risk.features import features_at

        return features_at(self, cutoff)
