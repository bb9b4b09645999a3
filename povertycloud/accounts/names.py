"""How a person's name is shown: the one rule every page, log and export uses (User.get_full_name).

A Chinese (Japanese, Korean) name is written family name first with no space: 杨 + 秀英 → 杨秀英. A Latin
name is written given name first with a space: Anna + Schmidt → Anna Schmidt. A name given whole (a role
label such as 系统管理员, kept in one of the two fields) is shown as it is.
"""

import unicodedata

# Scripts whose names are written family name first, without a space between the parts.
_FAMILY_FIRST_SCRIPTS = ("CJK", "HANGUL", "HIRAGANA", "KATAKANA")


def _is_family_first(text: str) -> bool:
    return any(
        unicodedata.name(char, "").startswith(_FAMILY_FIRST_SCRIPTS) for char in text if not char.isascii()
    )


def person_name(first_name: str | None, last_name: str | None) -> str:
    """The full name in the order its script writes it: 杨秀英, Anna Schmidt."""
    first, last = (first_name or "").strip(), (last_name or "").strip()
    if not first or not last:
        return first or last
    if _is_family_first(first) or _is_family_first(last):
        return f"{last}{first}"
    return f"{first} {last}"
