"""How a department is declared: its file's columns, how each is read and checked, and its record model.

Adding a department (残联, 人社, 住建 …) is a declaration here and a SourceRecord model; the pipeline reads,
validates, loads, keeps history and links any declared department the same way.
"""

import enum
from dataclasses import dataclass, field

from django.db import models
from django.utils.translation import gettext as _


class Kind(enum.StrEnum):
    ID_NUMBER = "id_number"  # 18-character resident ID, check character verified
    TEXT = "text"
    CODE = "code"  # a value of a data-dictionary code set, given by its label or its code
    DATE = "date"  # 2025-03-01, 2025/3/1, 20250301 or 2025年3月1日
    AMOUNT = "amount"  # a non-negative number (yuan)
    INTEGER = "integer"
    FLAG = "flag"  # 是/否 (also 1/0, Y/N)
    PERIOD = "period"  # YYYY-MM
    DISABILITY_CERTIFICATE = "disability_certificate"  # the row's ID number + category (1–7) + grade (1–4)


@dataclass(frozen=True)
class FieldSpec:
    column: str  # the header as the department writes it
    name: str  # the record model's field
    kind: Kind = Kind.TEXT
    required: bool = False
    codeset: str = ""  # for Kind.CODE
    max_value: float | None = None  # for amounts and integers
    max_length: int = 100  # for text
    required_when: str = ""  # for an optional field: required when this flag field (a name) is 是


@dataclass(frozen=True)
class Department:
    slug: str
    name: str
    model: type[models.Model]
    fields: tuple[FieldSpec, ...]
    # A department sends its whole list each period: someone missing from a new file is no longer listed.
    full_snapshot: bool = True
    description: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        return [spec.column for spec in self.fields]

    def spec(self, name: str) -> FieldSpec:
        return next(spec for spec in self.fields if spec.name == name)


REGISTRY: dict[str, Department] = {}


def declare(department: Department) -> Department:
    REGISTRY[department.slug] = department
    return department


def get_department(slug: str) -> Department:
    try:
        return REGISTRY[slug]
    except KeyError as exc:
        known = "、".join(f"{d.slug}（{d.name}）" for d in REGISTRY.values())
        raise LookupError(_("未知的部门“%(slug)s”。已声明的部门：%(known)s") % {"slug": slug, "known": known}) from exc
