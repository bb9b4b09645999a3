"""How a department is declared: its file's columns, how each is read and checked, and its record model.

Two kinds of declaration, one pipeline. The departments the system started with (民政, 医保, 教育, 残联) are
declared in code with a typed record model each (exchange.departments), which is what their risk features read
fastest. Any other department is declared as data by an administrator (exchange.feeds: DepartmentFeed and its
columns, in the admin or a declaration file): its records share one table (DeclaredRecord) with the declared
columns in JSON, and no code or migration is needed. ``get_department`` answers both; the pipeline reads,
validates, loads, keeps history and links either the same way, reaching the records through
``Department.records()``.
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
    min_value: float | None = None  # for amounts and integers; None: not negative
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
    # A department declared as data: its records are the DeclaredRecord rows with department = slug, its
    # columns other than ID number, name and period are kept in DeclaredRecord.data.
    declared_as_data: bool = False

    @property
    def record_filter(self) -> dict:
        return {"department": self.slug} if self.declared_as_data else {}

    def records(self):
        """The standing versions of this department's records (void ones left out)."""
        return self.model.objects.filter(**self.record_filter)

    def all_records(self):
        """Every version, void ones too (rollback, audit)."""
        return self.model.all_versions.filter(**self.record_filter)

    @property
    def data_fields(self) -> tuple["FieldSpec", ...]:
        """The fields kept in DeclaredRecord.data (none for a typed department)."""
        if not self.declared_as_data:
            return ()
        return tuple(spec for spec in self.fields if spec.name not in COLUMN_FIELDS)

    def value(self, record, name: str):
        """A field of one of this department's records, typed or declared."""
        if self.declared_as_data and name not in COLUMN_FIELDS:
            return (record.data or {}).get(name)
        return getattr(record, name)

    @property
    def columns(self) -> list[str]:
        return [spec.column for spec in self.fields]

    def spec(self, name: str) -> FieldSpec:
        return next(spec for spec in self.fields if spec.name == name)


# The fields a declared department's record keeps in columns of its own; the rest go into DeclaredRecord.data.
COLUMN_FIELDS = frozenset({"id_number", "name", "period"})

REGISTRY: dict[str, Department] = {}


def declare(department: Department) -> Department:
    REGISTRY[department.slug] = department
    return department


def get_department(slug: str) -> Department:
    """A department declared in code, else an active department declared as data (read from the database)."""
    if slug in REGISTRY:
        return REGISTRY[slug]
    from exchange.feeds.declare import declared_department  # the feeds' models import this module

    found = declared_department(slug)
    if found is not None:
        return found
    known = "、".join(f"{d.slug}（{d.name}）" for d in all_departments())
    raise LookupError(_("未知的部门“%(slug)s”。已声明的部门：%(known)s") % {"slug": slug, "known": known})


def all_departments() -> list[Department]:
    """Every department whose files the county receives: those declared in code, then the active ones declared
    as data."""
    from exchange.feeds.declare import declared_departments

    return [*REGISTRY.values(), *declared_departments()]


def is_department(slug: str) -> bool:
    try:
        get_department(slug)
    except LookupError:
        return False
    return True
