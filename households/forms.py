"""Forms for the household file, shared by the township pages and the admin.

Coded fields take their choices from the data dictionary at form time. Forms only parse input and show
the validators' issues; the services validate again and write.
"""

import datetime as dt
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy

from households.codes import choices
from households.models import Household, IncomeRecord, Person
from households.services import AMOUNT_FIELDS, StaleEdit, check_household, check_person
from households.validation import (
    RISK_NATURAL_DISASTER,
    Issue,
    income_issues,
    join_codes,
    parse_resident_id,
    split_codes,
)

HOUSEHOLD_CODE_FIELDS = {
    "household_type": ("household_type", False),
    "poverty_attribute": ("poverty_attribute", True),
    "monitoring_type": ("monitoring_type", True),
    "disaster_subtype": ("disaster_subtype", True),
    "main_poverty_cause": ("poverty_cause", True),
    "housing_grade": ("housing_grade", True),
    "fuel": ("fuel", True),
}
HOUSEHOLD_MULTI_FIELDS = {"risk_types": "risk_type", "other_poverty_causes": "poverty_cause"}

PERSON_CODE_FIELDS = {
    "sex": ("sex", False),
    "ethnicity": ("ethnicity", False),
    "relation": ("relation", False),
    "disability_category": ("disability_category", True),
    "disability_grade": ("disability_grade", True),
    "labour_skill": ("labour_skill", False),
    "education": ("education", True),
    "school_status": ("school_status", True),
    "dibao": ("dibao_type", True),
}
PERSON_MULTI_FIELDS = {"health": "health"}


def add_issues(form: forms.Form, issues: list[Issue]) -> None:
    """Show validator issues on the form: errors against their field, warnings kept for the page."""
    form.warnings = [issue for issue in issues if not issue.is_error]
    for issue in issues:
        if issue.is_error:
            target = issue.field if issue.field in form.fields else None
            form.add_error(target, issue.message)


class CodedModelForm(forms.ModelForm):
    code_fields: dict[str, tuple[str, bool]] = {}
    multi_fields: dict[str, str] = {}

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.warnings: list[Issue] = []
        for name, (codeset, blank) in self.code_fields.items():
            if name in self.fields:
                field = self.fields[name]
                self.fields[name] = forms.ChoiceField(
                    label=field.label, choices=choices(codeset, blank=blank), required=not blank,
                    help_text=field.help_text,
                )
        for name, codeset in self.multi_fields.items():
            if name in self.fields:
                label = self.fields[name].label
                self.fields[name] = forms.MultipleChoiceField(
                    label=label, choices=choices(codeset), required=False, widget=forms.CheckboxSelectMultiple
                )
                if self.instance and self.instance.pk:
                    self.initial[name] = split_codes(getattr(self.instance, name))
        if "version" in self.fields:
            self.fields["version"].widget = forms.HiddenInput()
            self.fields["version"].required = False

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name in self.multi_fields:
            if name in cleaned:
                cleaned[name] = join_codes(cleaned[name] or [])
        version = cleaned.get("version")
        if self.instance.pk and version is not None:
            stored = type(self.instance).objects.filter(pk=self.instance.pk)
            current = stored.values_list("version", flat=True).first()
            if current != version:
                self.add_error(None, StaleEdit(self._meta.model._meta.verbose_name).messages[0])
        return cleaned

    def values(self) -> dict[str, Any]:
        """The cleaned values to hand to a service (without the version, which the service checks)."""
        return {k: v for k, v in self.cleaned_data.items() if k != "version"}


class HouseholdForm(CodedModelForm):
    code_fields = HOUSEHOLD_CODE_FIELDS
    multi_fields = HOUSEHOLD_MULTI_FIELDS

    class Meta:
        model = Household
        fields = (
            "number", "village", "group_name", "phone", "bank_account",
            "household_type", "poverty_attribute", "lifted_year", "monitoring_type",
            "whole_household_unable_to_work", "risk_types", "disaster_subtype",
            "main_poverty_cause", "other_poverty_causes",
            "housing_grade", "safe_drinking_water", "sanitary_toilet", "road_to_door", "fuel",
            "cultivated_land_mu", "forest_land_mu", "version",
        )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # The disaster type belongs to the risk type 因自然灾害: the page shows it only while that box is ticked
        # (households/js/household_form.js); the server refuses the pair apart either way.
        if "disaster_subtype" in self.fields:  # a read-only admin form has none
            self.fields["disaster_subtype"].widget.attrs["data-shown-with"] = f"risk_types={RISK_NATURAL_DISASTER}"

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not self.errors:
            add_issues(self, check_household(cleaned))
        return cleaned


ID_DERIVED_HELP = gettext_lazy("留空则按证件号码自动填写。")
ID_DERIVED_REQUIRED = gettext_lazy("%(field)s不能为空（证件号码无效时无法自动填写）。")


class PersonForm(CodedModelForm):
    code_fields = PERSON_CODE_FIELDS
    multi_fields = PERSON_MULTI_FIELDS

    class Meta:
        model = Person
        fields = (
            "id_number", "disability_certificate", "name", "sex", "birth_date", "ethnicity", "relation",
            "health",
            "disability_category", "disability_grade", "labour_skill", "education", "school_status",
            "months_worked_away", "work_place", "employer", "public_welfare_job", "public_welfare_months",
            "resident_medical_insurance", "employee_medical_insurance", "critical_illness_insurance",
            "pension_insurance", "dibao", "tekun", "version",
        )
        widgets = {"birth_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}

    def __init__(self, *args: Any, household: Household | None = None, user: Any = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.household = household or (self.instance.household if self.instance.pk else None)
        # Who enters the values: an ID number already registered outside their region is reported
        # without naming that household (without a user, no other household is ever named).
        self.user = user
        # Birth date and sex follow from an 18-character ID number: left blank, they are taken from it
        # (households/static/households/js/member_form.js fills them as the number is typed; without
        # JavaScript the server does the same here). Given, the validators check them against the number.
        for name in ("sex", "birth_date"):
            if name in self.fields:
                self.fields[name].required = False
                self.fields[name].help_text = ID_DERIVED_HELP
        if "sex" in self.fields:
            self.fields["sex"].choices = choices("sex", blank=True)
        if "id_number" in self.fields:
            self.fields["id_number"].widget.attrs.update(
                {"data-derive-birth": "id_birth_date", "data-derive-sex": "id_sex", "autocomplete": "off"}
            )

    def validate_unique(self) -> None:
        # The services report a duplicate ID with the household it belongs to; skip the generic message.
        pass

    def _get_validation_exclusions(self):
        # check_person() already judged the ID number; the model validator would repeat its message.
        return {*super()._get_validation_exclusions(), "id_number"}

    def _derive_from_id(self) -> None:
        """Blank birth date and sex taken from a valid ID number. Without one, the blank fields are errors:
        the validators' (with the ID number's own error) when the household is known, the form's if not."""
        cleaned = self.cleaned_data
        try:
            resident = parse_resident_id(cleaned.get("id_number") or "")
        except ValidationError:
            resident = None
        for name, derived in (("birth_date", "birth_date"), ("sex", "sex")):
            if name not in self.fields or cleaned.get(name) or name in self.errors:
                continue
            if resident is not None:
                cleaned[name] = getattr(resident, derived)
            elif self.household is None:
                self.add_error(name, ID_DERIVED_REQUIRED % {"field": self.fields[name].label})

    def clean(self) -> dict[str, Any]:
        self._derive_from_id()
        cleaned = super().clean()
        if self.household is not None and not self.errors:
            replacing = self.instance if self.instance.pk else None
            add_issues(self, check_person(self.household, self.values(), replacing=replacing, by=self.user))
        return cleaned


def first_unrecorded_year(recorded: set[int], *, today: dt.date) -> int:
    """The year a new income survey defaults to: the first year without a record, from the household's
    earliest recorded year (last year when it has none) up to this year. A survey is usually of the year
    before, so a household with every year recorded up to last year gets this year; one with a gap gets
    the gap."""
    last_year = today.year - 1
    start = min(min(recorded, default=last_year), last_year)
    for year in range(start, today.year + 1):
        if year not in recorded:
            return year
    return today.year  # every year up to this one recorded: the form then says the year is taken


class IncomeForm(CodedModelForm):
    class Meta:
        model = IncomeRecord
        fields = (
            "year", "household_size", *IncomeRecord.INCOME_FIELDS, "production_cost",
            *IncomeRecord.NON_INCOME_FIELDS,
            "compliant_medical_spending", "compliant_education_spending", "survey_date", "version",
        )
        widgets = {"survey_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}

    def clean(self) -> dict[str, Any]:
        # The same rules the service applies (no negative amount, no future year, ...), shown on the form.
        cleaned = super().clean()
        if not self.errors:
            # A field left off the form (the year, when it names the record being edited) keeps its value.
            stored = {"year": self.instance.year, "household_size": self.instance.household_size}
            values = {**(stored if self.instance.pk else {}), **cleaned}
            add_issues(self, income_issues(values, amount_fields=AMOUNT_FIELDS))
        return cleaned
