"""Every page of every role speaks the user's language: in English no Chinese is left from the templates or the code,
in Chinese no English words are. Data (names, villages, the county's catalogue) is the county's own and stays as it is.

The county is the demo county built by build_demo, so every page has something on it: scored risk lists, cases in
every state, eliminations, a performance report, model evaluations, import batches and conflicts. The test follows
each role's links from the home page, as a user clicking through would, and reads the visible text and the attributes
people read (title, placeholder, aria-label, alt, button values).
"""

import io
import re
from collections import defaultdict
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urldefrag, urlsplit

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import models

from povertycloud.accounts.models import User

pytestmark = pytest.mark.django_db

ROLES = ("xijiang", "county", "auditor", "admin")
HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
# On a Chinese page a token of Latin letters (and underscores: a field name leaking out) is English; a token with a
# digit is an identifier (a file name, a hash, a model version) and is data.
QUOTED = re.compile(r"“[^”]*”|\"[^\"]*\"|「[^」]*」")
FILE_NAME = re.compile(r"[\w.\-]+\.(csv|xlsx|pdf|zip|json)")  # a download's name is an identifier
TOKEN = re.compile(r"[A-Za-z0-9_.\-]+")
VOID_ELEMENTS = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "param",
    "source",
    "track",
    "wbr",
}

# Pages a crawl must not follow: writes behind GET-looking links, downloads, Django's own admin (its catalogue is
# Django's), logging out, switching the language.
SKIPPED_PREFIXES = ("/admin/", "/accounts/logout", "/i18n/", "/static/", "/media/", "/favicon")
SKIPPED_SUFFIXES = (".xlsx", ".csv", ".pdf", ".zip", ".json")
# Each page shape (digits folded) is read this many times, enough to meet lists, details and their states.
VISITS_PER_SHAPE = 3
ATTRIBUTES_READ = ("title", "placeholder", "aria-label", "alt")

# Words allowed on a Chinese page: names of formats, standards and products, units and codes a user types.
ENGLISH_ALLOWED = {
    word.lower()
    for word in {
        "AUC",
        "OLS",
        "PR",
        "ROC",
        "ID",
        "CSV",
        "XLSX",
        "ZIP",
        "PDF",
        "API",
        "XGBoost",
        "SHAP",
        "Excel",
        "URL",
        "CSRF",
        "HTTP",
        "HTTPS",
        "English",
        "OK",
        "JSON",
        "SQL",
        "PostgreSQL",
        "SQLite",
        "Dask",
        "Redis",
        "Top",
        "km",
        "kg",
        "mu",
        "No",
        "povertycloud",
        "sklearn",
        "scikit-learn",
        "logistic",
        "xgboost",
        "gbdt",
        "utf-8",
        "UTF-8",
        "GBK",
        "GB",
        "MB",
        "KB",
        "pp",
        "Brier",
        "EE",
        "IE",
        "PR-AUC",
        "ROC-AUC",
        "BOM",
        "YYYY-MM",
        "YYYY-MM-DD",
        "B",
    }
}


class _VisibleText(HTMLParser):
    """Collects what a person reads on a page: text outside script/style, the read attributes, button values.

    Text inside an element that declares another language (lang="zh-Hans" around the column names a county's file
    must carry, say) is meant to be in that language and is left out.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []
        self._open: list[tuple[str, bool]] = []  # (tag, hides its text)

    def _hidden(self) -> bool:
        return any(hides for _, hides in self._open)

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        hides = tag in ("script", "style", "template") or (tag != "html" and bool(values.get("lang")))
        if tag == "a" and values.get("href"):
            self.links.append(values["href"])
        if not hides and not self._hidden():
            for name in ATTRIBUTES_READ:
                if values.get(name):
                    self.parts.append(values[name])
            if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
                self.parts.append(values["value"])
        if tag not in VOID_ELEMENTS:
            self._open.append((tag, hides))

    def handle_endtag(self, tag):
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index][0] == tag:
                del self._open[index:]
                break

    def handle_data(self, data):
        if data.strip() and not self._hidden():
            self.parts.append(data.strip())


@dataclass
class CountyData:
    han: list[str]  # Chinese values, longest first, so a full name goes before its surname
    tokens: set[str]  # Latin tokens in the data (user names, file names, model versions)
    single: set[str]  # one-character values (是, 否 in a department's file), data only where they stand alone


def _county_data() -> CountyData:
    """Every text value the county's data holds."""
    values: set[str] = set()
    for model in apps.get_models():
        if model._meta.app_label in ("admin", "auth", "contenttypes", "sessions"):
            continue
        text_fields = [
            f.name for f in model._meta.concrete_fields if isinstance(f, (models.CharField, models.TextField))
        ]
        json_fields = [f.name for f in model._meta.concrete_fields if isinstance(f, models.JSONField)]
        if not text_fields and not json_fields:
            continue
        manager = getattr(model, "everyone", None) or model._base_manager
        for row in manager.values_list(*text_fields, *json_fields):
            for value in _strings_in(row):
                values.add(value)
                values.update(part for part in re.split(r"[,，、;；/]+", value) if len(part) > 1)
    for user in User.objects.all():
        values.update({user.get_full_name(), user.last_name + user.first_name, user.username})
    values.add("简体中文")  # the language switch names each language in itself
    return CountyData(
        han=sorted((v for v in values if len(v) > 1 and HAN.search(v)), key=len, reverse=True),
        single={v for v in values if len(v) == 1 and HAN.search(v)},
        tokens={token for value in values for token in TOKEN.findall(value)},
    )


def _strings_in(value) -> list[str]:
    """The text values in a row, JSON included; JSON keys are field names, which a page must not show raw."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings_in(item)]
    if isinstance(value, (list, tuple)):
        return [s for item in value for s in _strings_in(item)]
    return []


def _shape(path: str) -> str:
    return re.sub(r"\d+", "N", path)


def _crawl(client, language: str) -> dict[str, list[str]]:
    """Visible text of each page the role reaches, keyed by the page's address."""
    client.post("/i18n/setlang/", {"language": language, "next": "/"})
    queue, seen, texts = ["/"], set(), {}
    shapes: dict[str, int] = defaultdict(int)
    while queue:
        address = queue.pop(0)
        if address in seen:
            continue
        seen.add(address)
        response = client.get(address)
        assert response.status_code < 400 or response.status_code in (403, 404), (address, response.status_code)
        if response.status_code in (301, 302):
            queue.append(response["Location"])
            continue
        if not response.get("Content-Type", "").startswith("text/html"):
            continue
        parser = _VisibleText()
        parser.feed(response.content.decode())
        texts[address] = parser.parts
        for href in parser.links:
            href = urldefrag(href)[0]
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or not parts.path.startswith("/"):
                continue
            if parts.path.startswith(SKIPPED_PREFIXES) or parts.path.endswith(SKIPPED_SUFFIXES):
                continue
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if target in seen or target in queue:
                continue
            shape = _shape(parts.path) + ("?" if parts.query else "")
            if shapes[shape] >= VISITS_PER_SHAPE:
                continue
            shapes[shape] += 1
            queue.append(target)
    return texts


def _without_data(text: str, data: "CountyData") -> str:
    for value in data.han:
        if value in text:
            text = text.replace(value, " ")
    # A one-character value is data only where it stands alone ("：否"), not inside a word of the page's own.
    return HAN.sub(lambda m: " " if m.group() in data.single else m.group(), text)


@pytest.fixture
def demo_county(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("build_demo", persons=400, seed=7, stdout=io.StringIO())
    return _county_data()


def test_every_page_of_every_role_speaks_the_chosen_language(client, demo_county):
    leftovers: dict[str, dict[str, set[str]]] = {"en": defaultdict(set), "zh-hans": defaultdict(set)}
    pages_read = 0
    for username in ROLES:
        client.force_login(User.objects.get(username=username))
        for language in ("en", "zh-hans"):
            for address, parts in _crawl(client, language).items():
                pages_read += 1
                for part in parts:
                    text = _without_data(part, demo_county)
                    if language == "en":
                        # A quoted term is the name a county's file carries (the column “统计期”), meant as it is.
                        found = HAN.findall(QUOTED.sub(" ", text))
                    else:
                        found = [
                            token
                            for token in TOKEN.findall(text)
                            if re.search("[A-Za-z]", token)
                            and not FILE_NAME.fullmatch(token)
                            and not re.search(r"\d", token)
                            and token.strip(".-").lower() not in ENGLISH_ALLOWED
                            and len(token.strip(".-")) > 1
                            and token not in demo_county.tokens
                        ]
                    if found:
                        shown = part[:120] if language == "en" else "、".join(found)
                        leftovers[language][_shape(urlsplit(address).path)].add(shown)
        client.logout()
    assert pages_read > 40, f"the crawl reached only {pages_read} pages"
    report = []
    for language, pages in leftovers.items():
        for shape, parts in sorted(pages.items()):
            report.append(f"[{language}] {shape}: " + " | ".join(sorted(parts)[:15]))
    assert not report, "text in the wrong language:\n" + "\n".join(report)
