"""{{ field|cached_widget }} gives the widget's own HTML, and a field that differs in anything its HTML is made
of (choices, their labels, the value, the errors) gets its own entry, never another's."""

import pytest
from django import forms
from django.core.cache import cache

from povertycloud.templatetags.form_cache import _key, cached_widget


class Filters(forms.Form):
    level = forms.ChoiceField(required=False)

    def __init__(self, *args, labels=("高", "低"), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["level"].choices = [("", "全部"), ("high", labels[0]), ("low", labels[1])]


def test_the_cached_widget_is_the_widget():
    field = Filters({"level": "low"})["level"]
    assert cached_widget(field) == str(field)
    assert cache.get(_key(field)) == str(field)  # kept under the field's key
    cache.set(_key(field), "<select data-from-cache></select>")
    assert cached_widget(field) == "<select data-from-cache></select>"  # and read from there, not rendered again


@pytest.mark.parametrize(
    "other",
    [
        lambda: Filters({"level": "high"})["level"],  # another value
        lambda: Filters({"level": "low"}, labels=("High", "Low"))["level"],  # labels in another language
        lambda: Filters({"level": "low"}, prefix="x")["level"],  # another name
        lambda: Filters({"level": "zz"})["level"],  # an error shown beside it
    ],
)
def test_a_field_that_differs_gets_its_own_html(other):
    field = Filters({"level": "low"})["level"]
    cached_widget(field)
    changed = other()
    changed.form.is_valid()
    assert cached_widget(changed) == str(changed) != str(field)


def test_markup_in_labels_stays_escaped():
    field = Filters({"level": "low"}, labels=("<b>高</b>", "低"))["level"]
    assert "<b>" not in cached_widget(field) and "&lt;b&gt;" in cached_widget(field)
