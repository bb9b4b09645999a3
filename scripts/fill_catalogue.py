"""Fill locale/en/LC_MESSAGES/django.po from translation files (JSON lists of msgid → msgstr) and write the .mo.

Used when strings are added: `manage.py makemessages -l en --ignore=.venv --ignore=tests --ignore=var`, translate
the entries with an empty msgstr into a JSON file, then `python scripts/fill_catalogue.py FILE.json...`.
Needs polib (a development tool, not a dependency of the application).
"""

import json
import sys
from pathlib import Path

import polib

CATALOGUE = Path(__file__).resolve().parent.parent / "locale" / "en" / "LC_MESSAGES" / "django.po"


def main(paths: list[str]) -> None:
    po = polib.pofile(str(CATALOGUE))
    wanted = {}
    for path in paths:
        for item in json.loads(Path(path).read_text(encoding="utf-8")):
            wanted[(item.get("msgctxt"), item["msgid"])] = item
    filled = 0
    for entry in po:
        item = wanted.get((entry.msgctxt, entry.msgid))
        if item is None:
            continue
        if entry.msgid_plural and "msgstr_plural" in item:
            entry.msgstr_plural = dict(enumerate(item["msgstr_plural"]))
        elif "msgstr" in item:
            entry.msgstr = item["msgstr"]
        if "fuzzy" in entry.flags:
            entry.flags.remove("fuzzy")
        filled += 1
    po.metadata.update(
        {"Project-Id-Version": "povertycloud", "Language": "en", "Language-Team": "English", "Last-Translator": ""}
    )
    po.metadata_is_fuzzy = False
    po.header = "English catalogue of povertycloud (Chinese is the source language)."
    po.save()
    po.save_as_mofile(str(CATALOGUE.with_suffix(".mo")))
    missing = [e.msgid for e in po.untranslated_entries()]
    print(f"filled {filled}; untranslated {len(missing)}; {po.percent_translated()}% translated")
    for msgid in missing[:20]:
        print("  untranslated:", msgid[:80])


if __name__ == "__main__":
    main(sys.argv[1:])
