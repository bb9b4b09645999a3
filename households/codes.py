"""The data dictionary as the rest of the code reads it: a CodeBook loaded from the Code table, cached."""

import csv
import json
from pathlib import Path

from django.core.cache import cache
from django.db import transaction

from households.models import Code, CodeSet
from households.validation import CodeBook

CACHE_KEY = "households:codebook"
CACHE_SECONDS = 300


def codebook() -> CodeBook:
    book = cache.get(CACHE_KEY)
    if book is None:
        labels: dict[str, dict[str, str]] = {}
        attributes: dict[str, dict[str, dict]] = {}
        for codeset, code, label, attrs in Code.objects.filter(active=True).values_list(
            "codeset_id", "code", "label", "attributes"
        ):
            labels.setdefault(codeset, {})[code] = label
            if attrs:
                attributes.setdefault(codeset, {})[code] = attrs
        book = CodeBook(labels=labels, attributes=attributes)
        cache.set(CACHE_KEY, book, CACHE_SECONDS)
    return book


def forget_codebook() -> None:
    cache.delete(CACHE_KEY)


def choices(codeset: str, *, blank: bool = False) -> list[tuple[str, str]]:
    options = list(codebook().labels.get(codeset, {}).items())
    return ([("", "—")] if blank else []) + options


def labels_of(codeset: str, value: str) -> str:
    """Display a stored single or multi-valued code as its labels ("长期慢性病、残疾")."""
    book = codebook()
    return "、".join(book.label(codeset, code) for code in value.split(",") if code)


@transaction.atomic
def load_data_dictionary(path: Path, *, code_model=Code, codeset_model=CodeSet) -> int:
    """Create or update code sets and codes from the dictionary CSV; codes an administrator added stay."""
    count = 0
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            codeset, _ = codeset_model.objects.update_or_create(
                slug=row["codeset"],
                defaults={"name": row["codeset_name"], "description": row["codeset_description"]},
            )
            code_model.objects.update_or_create(
                codeset=codeset,
                code=row["code"],
                defaults={
                    "label": row["label"],
                    "meaning": row["meaning"],
                    "attributes": json.loads(row["attributes"]) if row["attributes"] else {},
                    "sort_order": int(row["sort_order"]),
                },
            )
            count += 1
    forget_codebook()
    return count
