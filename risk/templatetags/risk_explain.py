"""Template filters over risk.explain: a score's stored factors in plain words, translated when shown."""

from django import template

from risk import explain

register = template.Library()


@register.filter
def plain_factors(factors: object) -> list[str]:
    """{% for sentence in view.factors|plain_factors %}: which factor raises the risk most, then the others."""
    return explain.plain_sentences(factors)


@register.filter
def factor_label(phrase: object) -> str:
    """A stored factor phrase in the active language."""
    return explain.phrase_label(str(phrase or ""))
