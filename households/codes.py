"""The data dictionary as the rest of the code reads it: a CodeBook loaded from the Code table, cached.

Within one request (households.middleware.CodebookPerRequestMiddleware) or one export (`with codebook_once():`)
the book is read from the cache once and kept, so labels are not unpickled again for every cell or row.
"""

import csv
import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from households.models import Code, CodeSet
from households.validation import CodeBook

# Both languages' labels are cached together (the CodeBook picks one when asked), so the cache is shared
# by Chinese and English requests. v2: the CodeBook gained labels_en.
CACHE_KEY = "households:codebook:v2"
CACHE_SECONDS = 300
# The dictionary file's columns; label_en (the English label) is optional.
REQUIRED_COLUMNS = (
    "codeset",
    "codeset_name",
    "codeset_description",
    "code",
    "label",
    "meaning",
    "attributes",
    "sort_order",
)


# The book read once in the current request or export; None outside one (each call reads the cache).
_held: ContextVar[dict | None] = ContextVar("households_codebook", default=None)


@contextmanager
def codebook_once() -> Iterator[None]:
    """Read the dictionary once for everything inside the block (a request, an export)."""
    token = _held.set({})
    try:
        yield
    finally:
        _held.reset(token)


def codebook() -> CodeBook:
    held = _held.get()
    if held is not None and "book" in held:
        return held["book"]
    book = cache.get(CACHE_KEY)
    if book is None:
        labels: dict[str, dict[str, str]] = {}
        labels_en: dict[str, dict[str, str]] = {}
        attributes: dict[str, dict[str, dict]] = {}
        for codeset, code, label, label_en, attrs in Code.objects.filter(active=True).values_list(
            "codeset_id", "code", "label", "label_en", "attributes"
        ):
            labels.setdefault(codeset, {})[code] = label
            if label_en:
                labels_en.setdefault(codeset, {})[code] = label_en
            if attrs:
                attributes.setdefault(codeset, {})[code] = attrs
        book = CodeBook(labels=labels, attributes=attributes, labels_en=labels_en)
        cache.set(CACHE_KEY, book, CACHE_SECONDS)
    if held is not None:
        held["book"] = book
    return book


def forget_codebook() -> None:
    cache.delete(CACHE_KEY)
    held = _held.get()
    if held is not None:
        held.clear()


def choices(codeset: str, *, blank: bool = False) -> list[tuple[str, str]]:
    """Select options in the active language; the submitted value is the code."""
    options = list(codebook().display_labels(codeset).items())
    return ([("", "—")] if blank else []) + options


def labels_of(codeset: str, value: str) -> str:
    """Display a stored single or multi-valued code as its labels ("长期慢性病、残疾"), in the active language."""
    book = codebook()
    return "、".join(book.label(codeset, code) for code in value.split(",") if code)


@transaction.atomic
def load_data_dictionary(path: Path, *, code_model=Code, codeset_model=CodeSet) -> int:
    """Create or update code sets and codes from the dictionary CSV; codes an administrator added stay.

    The label_en column is optional: a dictionary without it (or a blank cell) leaves the English label as
    it is, and such codes show their Chinese label in English pages. A model without the field (a
    migration before 0012) ignores the column."""
    count = 0
    has_english = any(f.name == "label_en" for f in code_model._meta.get_fields())
    with path.open(encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in REQUIRED_COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            raise ValidationError(_("数据字典文件缺少必需的列：%(columns)s。") % {"columns": "、".join(missing)})
        for line, row in enumerate(reader, start=2):
            if not row["codeset"] or not row["code"] or not row["label"]:
                raise ValidationError(_("第 %(line)s 行：代码集、代码和名称不能为空。") % {"line": line})
            try:
                attributes = json.loads(row["attributes"]) if row["attributes"] else {}
                sort_order = int(row["sort_order"] or 0)
            except ValueError as exc:
                raise ValidationError(_("第 %(line)s 行：属性或排序无法读取。") % {"line": line}) from exc
            english = (row.get("label_en") or "").strip()
            codeset, _created = codeset_model.objects.update_or_create(
                slug=row["codeset"],
                defaults={"name": row["codeset_name"], "description": row["codeset_description"]},
            )
            code_model.objects.update_or_create(
                codeset=codeset,
                code=row["code"],
                defaults={
                    "label": row["label"],
                    "meaning": row["meaning"],
                    "attributes": attributes,
                    "sort_order": sort_order,
                    **({"label_en": english} if has_english and english else {}),
                },
            )
            count += 1
    forget_codebook()
    return count
