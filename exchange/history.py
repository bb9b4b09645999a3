"""What a department said about a person on a given date, and which batch said it.

A version of a source record holds from valid_from (its batch's period start) up to, not including,
valid_to (the period start of the batch that changed or dropped it); valid_to is empty while current.

Versions opened by a batch that was rolled back are void (exchange.rollback): ``objects`` leaves them out, so
these reads answer as if that batch had never arrived, and the versions it had closed hold again.
"""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q
from django.utils.translation import gettext as _

from exchange.declarations import get_department
from exchange.departments import CivilAffairsRecord
from exchange.models import ImportBatch, SourceRecord


def records_on(*, department: str, id_number: str, on: dt.date) -> list[SourceRecord]:
    """The version(s) of one person's record current on that date, each with its batch (select_related)."""
    records = get_department(department).records()
    return list(
        records.select_related("batch")
        .filter(id_number=id_number.strip().upper(), valid_from__lte=on)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=on))
        .order_by("-valid_from", "-id")
    )


def record_history(*, department: str, id_number: str) -> list[SourceRecord]:
    """Every version of one person's record, oldest first, with its batch."""
    records = get_department(department).records()
    return list(
        records.select_related("batch").filter(id_number=id_number.strip().upper()).order_by("valid_from", "id")
    )


@dataclass(frozen=True)
class DibaoAnswer:
    receiving: bool
    record: CivilAffairsRecord | None  # the civil affairs version current on that date, if any
    batch: ImportBatch | None  # the batch that said so

    @property
    def said_by(self) -> str:
        if self.batch is None:
            return _("当日没有民政记录")
        return _("批次 #%(batch)s（%(period)s %(file)s）") % {
            "batch": self.batch.pk,
            "period": self.batch.period,
            "file": self.batch.file_name,
        }


def dibao_on(*, id_number: str, on: dt.date) -> DibaoAnswer:
    """Was this person receiving 低保 on that date, and which batch said so.

    The civil affairs version current on that date decides: it names a 低保 type and dibao_start ≤ date <
    dibao_stop (or no stop date).
    """
    versions = records_on(department="civil_affairs", id_number=id_number, on=on)
    if not versions:
        return DibaoAnswer(receiving=False, record=None, batch=None)
    record = versions[0]
    receiving = bool(record.dibao_type) and (
        record.dibao_start is not None
        and record.dibao_start <= on
        and (record.dibao_stop is None or on < record.dibao_stop)
    )
    return DibaoAnswer(receiving=receiving, record=record, batch=record.batch)
