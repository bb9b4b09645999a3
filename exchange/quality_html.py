"""The data-quality page's item rows, written in Python (exchange.views.quality_issues): a township's page lists
up to PAGE_ITEMS people of every rule, and rendered by the template, variable by variable with a URL and the
batch reference include each, the rows were most of the page's time. Every value is escaped as the template
would (format_html)."""

from typing import Any

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.formats import localize
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _

from exchange import quality, selectors
from exchange.declarations import get_department
from households.sensitive import mask_id_number
from povertycloud.regions.scoping import user_may_see_code

QUALITY_ROW = (
    '<tr data-testid="issue" data-rule="{rule}" data-person-id="{person_id}">'
    '<td data-label="{label_person}">{name} <span class="nowrap">{masked_id}</span></td>'
    '<td data-label="{label_household}"><a href="{household_url}">{household_number}</a> '
    '<span class="muted">{village_name}</span></td>'
    '<td data-label="{label_record}">{record}</td>'
    '<td data-label="{label_batch}">{batch_ref}</td></tr>'
)


def quality_row(item: quality.Item, user: Any, labels: dict[str, str], batch_refs: dict[int | None, str]) -> str:
    """One item's row of the page (exchange/quality.html's table of a rule), as HTML. labels: the column
    headers, translated once; batch_refs: each batch's reference, rendered once per page by its template."""
    person, record, batch = item.person, item.record, item.batch
    key = batch.pk if batch is not None else None
    if key not in batch_refs:
        visible = batch is not None and user_may_see_code(user, batch.region_code)
        batch_refs[key] = render_to_string("exchange/_batch_ref.html", {"batch": batch, "visible": visible})
    if record is None:
        cited = format_html('<span class="muted">{}</span>', _("部门未列入此人"))
    else:
        facts = selectors.record_facts(get_department(item.rule.department), record, user)
        cited = format_html(
            '<span data-testid="issue-record">#{}</span> {}',
            record.pk,
            format_html_join("；", '<span class="muted">{}</span> {}', ((f.label, localize(f.value)) for f in facts)),
        )
    return format_html(
        QUALITY_ROW,
        rule=item.rule.code,
        person_id=person.pk,
        name=person.name,
        masked_id=mask_id_number(person.id_number),
        household_url=reverse("households:detail", args=[person.household_id]),
        household_number=person.household.number,
        village_name=person.household.village.name,
        record=cited,
        batch_ref=batch_refs[key],
        **labels,
    )
