"""Sections that apps above households add to the household file page.

households knows nothing of the apps built on it. An app that holds facts about a household's members (the
department records of exchange, for one) registers a section here from its AppConfig.ready(); the household
page renders every registered section, in the order they were registered, below the members table. A
section's context function receives the members the user may see and the user, and scopes its own reads.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from households.models import Person

SectionContext = Callable[[list[Person], Any], dict[str, Any]]


@dataclass(frozen=True)
class MemberSection:
    key: str
    template: str
    context: SectionContext


_SECTIONS: dict[str, MemberSection] = {}


def register_member_section(*, key: str, template: str, context: SectionContext) -> None:
    """Add (or replace, by key: ready() may run twice in tests) a section of the household page."""
    _SECTIONS[key] = MemberSection(key=key, template=template, context=context)


@dataclass(frozen=True)
class RenderedSection:
    template: str
    data: dict[str, Any]


def member_sections(members: list[Person], user: Any) -> list[RenderedSection]:
    return [RenderedSection(s.template, s.context(members, user)) for s in _SECTIONS.values()]
