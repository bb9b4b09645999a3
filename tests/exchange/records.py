"""Batches and department records made straight through the ORM (no import pipeline needed)."""

import datetime as dt
import itertools
from typing import Any

from exchange.declarations import get_department
from exchange.models import ImportBatch
from households.models import Person
from households.validation import id_check_character
from tests.factories import COUNTY

_rows = itertools.count(1)


def make_batch(department: str = "civil_affairs", *, region_code: str = COUNTY, by: Any = None,
               **overrides: Any) -> ImportBatch:
    values = {
        "department": department,
        "file_name": f"{department}-2025-03.csv",
        "sha256": f"{next(_rows):064x}",
        "file_format": "csv",
        "period": "2025-03",
        "period_start": dt.date(2025, 3, 1),
        "region_code": region_code,
        "uploaded_by": by,
        "status": ImportBatch.Status.SUCCEEDED,
    }
    values.update(overrides)
    return ImportBatch.objects.create(**values)


def make_record(department: str, *, batch: ImportBatch, id_number: str, name: str,
                person: Person | None = None, **fields: Any):
    """A current record; linked to `person` (and in their village) when given, else in the batch's region."""
    model = get_department(department).model
    defaults: dict[str, Any] = {"period": batch.period}
    if department == "education":
        defaults.update(school_name="雷山县第一小学", stage="2")
    values = {
        "batch": batch,
        "row_number": next(_rows),
        "id_number": id_number,
        "name": name,
        "person": person,
        "region_code": person.household.village_id if person is not None else batch.region_code,
        "row_hash": f"{next(_rows):032x}",
        "valid_from": batch.period_start,
        **defaults,
        **fields,
    }
    return model.objects.create(**values)


def with_check(body: str) -> str:
    return body + id_check_character(body)


def substitute(number: str, position: int, digit: str) -> str:
    """The ID with one character replaced (the check character is left as it was: a typo keeps no rules)."""
    return number[:position] + digit + number[position + 1 :]


def transpose(number: str, position: int) -> str:
    """The ID with the characters at position and position + 1 swapped."""
    chars = list(number)
    chars[position], chars[position + 1] = chars[position + 1], chars[position]
    return "".join(chars)
