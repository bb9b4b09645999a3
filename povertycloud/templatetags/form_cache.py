"""{{ field|cached_widget }}: a form field's widget as {{ field }} renders it, kept in the shared cache under
everything the HTML is made of.

Django renders a select through one template per option: the risk list's filter form (61 options) took 6 ms
of a 33 ms page, the same HTML on nearly every request. The key is a hash of the field's name, its widget's
class and attributes, its label, its choices (labels already in the user's language), its value and its
errors, so a changed dictionary code, warning rule or township name is a different key: never stale, only
unused."""

import hashlib

from django import template
from django.core.cache import cache
from django.forms import BoundField
from django.utils.safestring import SafeString, mark_safe

register = template.Library()
SECONDS = 3600


def _key(field: BoundField) -> str:
    widget = field.field.widget
    parts = (
        field.html_name,
        field.auto_id,
        type(widget).__module__,
        type(widget).__qualname__,
        sorted((str(k), str(v)) for k, v in widget.attrs.items()),
        str(field.label),
        [(str(value), str(label)) for value, label in getattr(field.field, "choices", ())],
        repr(field.value()),
        [str(error) for error in field.errors],
        field.field.required,
        field.field.disabled,
    )
    return "form-widget:" + hashlib.sha256(repr(parts).encode()).hexdigest()


@register.filter
def cached_widget(field: BoundField) -> SafeString:
    key = _key(field)
    html = cache.get(key)
    if html is None:
        html = str(field)
        cache.set(key, html, SECONDS)
    return mark_safe(html)
