"""What a department may pull: each dataset, its fields, the least each use needs, and the scope it takes.

A dataset is declared here (the rule that selects its persons lives in exchange.api.pull); which of its fields
a client may read is data on the client (ApiClient.fields, edited by an administrator), defaulting to the
dataset's ``default_fields``. Field names are the API's (English, stable); labels are for people.
"""

from dataclasses import dataclass

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class PullField:
    name: str
    label: str


@dataclass(frozen=True)
class Dataset:
    slug: str
    label: str
    purpose: str  # what the sharing is for: recorded with every share
    fields: tuple[PullField, ...]
    default_fields: tuple[str, ...]  # the least the use needs; always includes id_number

    @property
    def scope(self) -> str:
        return f"pull:{self.slug}"

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def label_of(self, name: str) -> str:
        return next((str(f.label) for f in self.fields if f.name == name), name)


PERSON = (
    PullField("id_number", _("证件号码")),
    PullField("name", _("姓名")),
    PullField("sex", _("性别")),
    PullField("birth_date", _("出生日期")),
)
HOUSEHOLD = (
    PullField("household_number", _("户编号")),
    PullField("household_type", _("户类型")),
    PullField("monitoring_type", _("监测对象类别")),
    PullField("village_code", _("所在村代码")),
    PullField("village_name", _("所在村")),
)

EDUCATION_PUPILS = Dataset(
    slug="education_pupils",
    label=_("脱贫户和监测户的义务教育阶段及高中阶段学生"),
    purpose=_("落实学费减免和学生资助"),
    fields=(*PERSON, *HOUSEHOLD, PullField("school_status", _("在校生状况")), PullField("age", _("年龄"))),
    default_fields=("id_number", "name", "school_status", "household_type"),
)
HEALTH_PREMIUM = Dataset(
    slug="health_premium",
    label=_("享受城乡居民医保参保资助的人员"),
    purpose=_("落实城乡居民医保参保资助"),
    fields=(
        *PERSON,
        *HOUSEHOLD,
        PullField("premium_category", _("资助类别")),
        PullField("resident_medical_insurance", _("城乡居民基本医疗保险")),
    ),
    default_fields=("id_number", "name", "premium_category"),
)
NEW_MONITORING = Dataset(
    slug="new_monitoring",
    label=_("新识别的监测对象及其风险类型"),
    purpose=_("对新识别监测对象开展救助帮扶"),
    fields=(
        *PERSON,
        *HOUSEHOLD,
        PullField("relation", _("与户主关系")),
        PullField("risk_types", _("风险类型")),
        PullField("identified_on", _("纳入监测日期")),
    ),
    default_fields=("id_number", "name", "household_number", "monitoring_type", "risk_types", "identified_on"),
)

DATASETS: dict[str, Dataset] = {d.slug: d for d in (EDUCATION_PUPILS, HEALTH_PREMIUM, NEW_MONITORING)}


def push_scope(department_slug: str) -> str:
    return f"push:{department_slug}"


def all_scopes() -> list[tuple[str, str]]:
    """(scope, label) for every scope a client may be given: pushing each declared department, pulling each dataset."""
    from exchange.declarations import all_departments

    pushes = [
        (push_scope(d.slug), gettext("报送%(department)s数据") % {"department": d.name}) for d in all_departments()
    ]
    pulls = [(d.scope, gettext("读取：%(dataset)s") % {"dataset": d.label}) for d in DATASETS.values()]
    return pushes + pulls
