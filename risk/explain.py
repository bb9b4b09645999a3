"""The top factors of a household's score, in plain Chinese, from the model's own per-row contributions.

The contributions are the model's (XGBoost: Booster.predict(..., pred_contribs=True), in log-odds; the
logistic baseline: coefficient × standardised value; the rules baseline: the weight of each rule fired). A
factor is named only where its contribution is positive (it raises the risk) and the household's value lies
on the risky side of the training average ("high" features above it, "low" ones below), so that a phrase
such as "家庭劳动力不足" is never said of a household with more labour than most. A few features say more
precisely where the value lies (BANDS: per-capita income under the threshold, or within 1.5 times it).
Features sharing a phrase add up; the three largest phrases are kept, one per family of phrases that say the
same thing (FAMILIES).
"""

import numpy as np
from django.utils.translation import get_language, gettext, gettext_noop

HIGH, LOW = "high", "low"
TOP = 3

PHRASES: dict[str, tuple[str, str]] = {
    # income
    "income_ratio": (gettext_noop("人均纯收入偏低"), LOW),
    "below_threshold": (gettext_noop("人均纯收入低于监测标准"), HIGH),
    "net_income": (gettext_noop("家庭纯收入低"), LOW),
    "income_ratio_prev": (gettext_noop("上年人均纯收入偏低"), LOW),
    "income_ratio_min": (gettext_noop("近年人均纯收入偏低"), LOW),
    "years_below": (gettext_noop("多年人均纯收入低于监测标准"), HIGH),
    "income_change": (gettext_noop("人均纯收入大幅下降"), LOW),
    "income_ratio_slope": (gettext_noop("收入呈下降趋势"), LOW),
    "wage_change": (gettext_noop("务工收入减少"), LOW),
    "business_change": (gettext_noop("生产经营收入减少"), LOW),
    "wage_share": (gettext_noop("工资性收入占比低"), LOW),
    "business_share": (gettext_noop("收入依赖种养殖等生产经营"), HIGH),
    "property_share": (gettext_noop("财产性收入少"), LOW),
    "transfer_share": (gettext_noop("收入主要依靠转移性收入"), HIGH),
    "cost_share": (gettext_noop("生产经营成本高"), HIGH),
    "income_years": (gettext_noop("收入记录少"), LOW),
    "income_gap_years": (gettext_noop("收入调查数据陈旧"), HIGH),
    "dibao_income_received": (gettext_noop("享受低保"), HIGH),
    "tekun_income_received": (gettext_noop("享受特困供养"), HIGH),
    "dibao_income_stopped": (gettext_noop("低保已停止"), HIGH),
    "loans": (gettext_noop("有借贷"), HIGH),
    "temporary_relief": (gettext_noop("接受过临时救助"), HIGH),
    # rigid spending
    "medical_spending": (gettext_noop("大病医疗自付费用高"), HIGH),
    "medical_spending_prev": (gettext_noop("上年医疗自付费用高"), HIGH),
    "education_spending": (gettext_noop("就学费用负担重"), HIGH),
    "rigid_spending_share": (gettext_noop("医疗和教育刚性支出占收入比重高"), HIGH),
    "rigid_per_person": (gettext_noop("医疗和教育刚性支出占收入比重高"), HIGH),
    # people
    "size": (gettext_noop("家庭人口多"), HIGH),
    "children": (gettext_noop("未成年子女多"), HIGH),
    "elderly": (gettext_noop("老年人口多"), HIGH),
    "working_age": (gettext_noop("家庭劳动力不足"), LOW),
    "working_age_labour": (gettext_noop("家庭劳动力不足"), LOW),
    "labour_able": (gettext_noop("家庭劳动力不足"), LOW),
    "labour_weak": (gettext_noop("有弱劳动力或半劳动力"), HIGH),
    "labour_lost": (gettext_noop("有丧失劳动力的成员"), HIGH),
    "whole_unable_to_work": (gettext_noop("整户无劳动能力"), HIGH),
    "dependants_share": (gettext_noop("抚养赡养负担重"), HIGH),
    "only_elderly": (gettext_noop("家中只有老年人"), HIGH),
    "compulsory_age_children": (gettext_noop("有义务教育阶段子女"), HIGH),
    "disabled_severe": (gettext_noop("有重度残疾成员"), HIGH),
    "disabled_any": (gettext_noop("有残疾成员"), HIGH),
    "ill_serious": (gettext_noop("有患大病成员"), HIGH),
    "ill_chronic": (gettext_noop("有长期慢性病成员"), HIGH),
    "head_age": (gettext_noop("户主年龄大"), HIGH),
    "head_female": (gettext_noop("女性户主"), HIGH),
    "head_education": (gettext_noop("户主文化程度低"), LOW),
    "adults_low_education": (gettext_noop("成年人文化程度低"), HIGH),
    "students_compulsory": (gettext_noop("有义务教育阶段在校生"), HIGH),
    "students_high": (gettext_noop("有高中或中职在读子女"), HIGH),
    "students_higher": (gettext_noop("有大学在读子女"), HIGH),
    "out_of_school_children": (gettext_noop("有义务教育阶段辍学子女"), HIGH),
    "migrant_workers": (gettext_noop("外出务工人数少"), LOW),
    "migrant_months": (gettext_noop("外出务工时间短"), LOW),
    "welfare_jobs": (gettext_noop("依靠公益性岗位"), HIGH),
    "welfare_months": (gettext_noop("依靠公益性岗位"), HIGH),
    "dibao_members": (gettext_noop("享受低保"), HIGH),
    "tekun_members": (gettext_noop("享受特困供养"), HIGH),
    "uninsured_members": (gettext_noop("有成员未参加基本医疗保险"), HIGH),
    # household
    "lifted": (gettext_noop("脱贫户"), HIGH),
    "dibao_lifted": (gettext_noop("低保脱贫户"), HIGH),
    "tekun_lifted": (gettext_noop("特困供养脱贫户"), HIGH),
    "years_since_lifted": (gettext_noop("脱贫时间短"), LOW),
    "cultivated_land_mu": (gettext_noop("耕地少"), LOW),
    "forest_land_mu": (gettext_noop("林地少"), LOW),
    "land_per_person": (gettext_noop("人均耕地少"), LOW),
    "housing_unsafe": (gettext_noop("住房不安全（C/D 级危房）"), HIGH),
    "unsafe_water": (gettext_noop("饮水不安全"), HIGH),
    "no_sanitary_toilet": (gettext_noop("无卫生厕所"), HIGH),
    "no_road": (gettext_noop("未通入户路"), HIGH),
    # monitoring history
    "monitored_now": (gettext_noop("当前为监测对象"), HIGH),
    "monitoring_unstable": (gettext_noop("当前为脱贫不稳定户"), HIGH),
    "monitoring_edge": (gettext_noop("当前为边缘易致贫户"), HIGH),
    "monitoring_hardship": (gettext_noop("当前为突发严重困难户"), HIGH),
    "ever_monitored": (gettext_noop("曾纳入监测"), HIGH),
    "times_identified": (gettext_noop("曾纳入监测"), HIGH),
    "times_eliminated": (gettext_noop("曾风险消除"), HIGH),
    "returned_before": (gettext_noop("曾返贫"), HIGH),
    "months_since_identified": (gettext_noop("纳入监测时间不长"), LOW),
    "months_since_eliminated": (gettext_noop("风险消除不久"), LOW),
    "risk_count": (gettext_noop("风险类型多"), HIGH),
    "risk_illness": (gettext_noop("风险类型：因病"), HIGH),
    "risk_disability": (gettext_noop("风险类型：因残"), HIGH),
    "risk_study": (gettext_noop("风险类型：因学"), HIGH),
    "risk_disaster": (gettext_noop("风险类型：因自然灾害"), HIGH),
    "risk_accident": (gettext_noop("风险类型：因意外事故"), HIGH),
    "risk_industry": (gettext_noop("风险类型：因产业项目失败"), HIGH),
    "risk_job": (gettext_noop("风险类型：因务工就业不稳"), HIGH),
    "risk_labour": (gettext_noop("风险类型：缺劳动力"), HIGH),
    "risk_housing": (gettext_noop("风险类型：因安全住房"), HIGH),
    "risk_water": (gettext_noop("风险类型：因安全饮水"), HIGH),
    # department records
    "dept_self_pay": (gettext_noop("大病医疗自付费用高"), HIGH),
    "dept_self_pay_max": (gettext_noop("大病医疗自付费用高"), HIGH),
    "dept_stay_max": (gettext_noop("住院自付费用高"), HIGH),
    "dept_outpatient_max": (gettext_noop("门诊费用高"), HIGH),
    "dept_uninsured": (gettext_noop("有成员未参加基本医疗保险"), HIGH),
    "dept_serious": (gettext_noop("有患大病成员"), HIGH),
    "dept_serious_new": (gettext_noop("新确诊大病"), HIGH),
    "dept_chronic": (gettext_noop("有长期慢性病成员"), HIGH),
    "dept_dibao": (gettext_noop("享受低保"), HIGH),
    "dept_dibao_stopped": (gettext_noop("低保已停止"), HIGH),
    "dept_tekun": (gettext_noop("享受特困供养"), HIGH),
    "dept_relief_count": (gettext_noop("多次接受临时救助"), HIGH),
    "dept_relief_amount": (gettext_noop("接受过临时救助"), HIGH),
    "dept_orphans": (gettext_noop("有孤儿或事实无人抚养儿童"), HIGH),
    "dept_students": (gettext_noop("有在校学生"), HIGH),
    "dept_dropout": (gettext_noop("有义务教育阶段辍学子女"), HIGH),
    "dept_study_cost": (gettext_noop("就学费用负担重"), HIGH),
    "dept_study_cost_max": (gettext_noop("就学费用负担重"), HIGH),
    "warnings": (gettext_noop("有部门预警"), HIGH),
}


# Sharper phrases by value: the first band whose upper bound the value is under (income in thresholds).
BANDS: dict[str, list[tuple[float, str]]] = {
    "income_ratio": [
        (1.0, gettext_noop("人均纯收入低于监测标准")),
        (1.5, gettext_noop("人均纯收入接近监测标准")),
    ],
    "income_ratio_min": [
        (1.0, gettext_noop("近年人均纯收入曾低于监测标准")),
        (1.5, gettext_noop("近年人均纯收入曾接近监测标准")),
    ],
    "income_ratio_prev": [
        (1.0, gettext_noop("上年人均纯收入低于监测标准")),
        (1.5, gettext_noop("上年人均纯收入接近监测标准")),
    ],
}


def phrase_of(feature: str, phrases: dict[str, tuple[str, str]] | None = None) -> tuple[str, str] | None:
    return (phrases or PHRASES).get(feature)


def top_factors(
    contributions: np.ndarray,
    values: np.ndarray,
    features: list[str],
    reference: np.ndarray,
    *,
    phrases: dict[str, tuple[str, str]] | None = None,
    top: int = TOP,
) -> list[list[dict]]:
    """Per row, up to `top` factors [{"phrase", "contribution"}], largest first.

    contributions and values are (rows, features) arrays; reference holds the training average per feature.
    """
    phrases = phrases or PHRASES
    known = [phrases.get(name) for name in features]
    labels = sorted(
        {entry[0] for entry in known if entry}
        | {band for name in features for _, band in BANDS.get(name, [])}
    )
    column = {label: i for i, label in enumerate(labels)}
    direction = np.array([0 if entry is None else (1 if entry[1] == HIGH else -1) for entry in known])
    with np.errstate(invalid="ignore"):
        risky_side = np.where(
            direction > 0, values > reference, np.where(direction < 0, values < reference, False)
        )
    usable = (contributions > 0) & risky_side & ~np.isnan(values)
    kept = np.where(usable, contributions, 0.0)
    rows = np.arange(len(contributions))
    by_phrase = np.zeros((len(contributions), len(labels)))
    for j, entry in enumerate(known):
        if entry is None:
            continue
        target = np.full(len(rows), column[entry[0]])
        for bound, band in reversed(BANDS.get(features[j], [])):
            with np.errstate(invalid="ignore"):
                target = np.where(values[:, j] < bound, column[band], target)
        np.add.at(by_phrase, (rows, target), kept[:, j])
    order = distinct_order(by_phrase, labels, top)
    return [
        [
            {"phrase": labels[k], "contribution": round(float(by_phrase[i, k]), 4)}
            for k in order[i]
            if by_phrase[i, k] > 0
        ]
        for i in rows
    ]


# Phrases that say the same thing of a household (one fact over other years, or more or less precisely). A
# row names one phrase per family, its largest, so that the three factors of the list are three different
# reasons and not, say, this year's, last year's and the lowest recent income under the threshold. A phrase
# not listed is a family of its own.
FAMILIES: dict[str, tuple[str, ...]] = {
    "income_level": (
        "人均纯收入偏低", "人均纯收入低于监测标准", "人均纯收入接近监测标准", "家庭纯收入低",
        "上年人均纯收入偏低", "上年人均纯收入低于监测标准", "上年人均纯收入接近监测标准",
        "近年人均纯收入偏低", "近年人均纯收入曾低于监测标准", "近年人均纯收入曾接近监测标准",
        "多年人均纯收入低于监测标准",
    ),
    "income_trend": ("人均纯收入大幅下降", "收入呈下降趋势"),
    "medical_cost": ("大病医疗自付费用高", "上年医疗自付费用高", "住院自付费用高", "门诊费用高"),
    "illness": ("有患大病成员", "新确诊大病"),
    "disability": ("有残疾成员", "有重度残疾成员"),
    "students": ("有义务教育阶段子女", "有义务教育阶段在校生", "有在校学生", "有高中或中职在读子女", "有大学在读子女"),
    "migrant_work": ("外出务工人数少", "外出务工时间短"),
    "land": ("耕地少", "人均耕地少"),
    "relief": ("接受过临时救助", "多次接受临时救助"),
    "monitored_now": ("当前为监测对象", "当前为脱贫不稳定户", "当前为边缘易致贫户", "当前为突发严重困难户"),
}
FAMILY_OF = {phrase: family for family, phrases in FAMILIES.items() for phrase in phrases}


def family_of(phrase: str) -> str:
    return FAMILY_OF.get(phrase, phrase)


def distinct_order(by_phrase: np.ndarray, labels: list[str], top: int) -> list[list[int]]:
    """Per row, the columns of up to `top` phrases, largest first, at most one of each family (FAMILIES)."""
    families = [family_of(label) for label in labels]
    order = np.argsort(-by_phrase, axis=1, kind="stable")
    chosen: list[list[int]] = []
    for i, ranked in enumerate(order):
        seen: set[str] = set()
        picked: list[int] = []
        for k in ranked:
            if by_phrase[i, k] <= 0 or len(picked) >= top:
                break
            if families[k] not in seen:
                seen.add(families[k])
                picked.append(int(k))
        chosen.append(picked)
    return chosen


# --- In plain words, for the case page -------------------------------------------------------------------
# The phrases are stored in Chinese with each score (the source language, whatever language scoring ran in)
# and translated when shown: phrase_label(). Phrases of warning rules are data and stay as written.


def phrase_label(phrase: str) -> str:
    """A stored factor phrase in the active language. A declared department's phrase (risk.features:
    its name and column header) has no catalogue entry: on English pages it is rebuilt from the English
    names declared, where there are any."""
    if not phrase:
        return ""
    translated = gettext(phrase)
    if translated == phrase and (get_language() or "").startswith("en"):
        from risk.features import declared_phrase_english  # features reads the department declarations

        return declared_phrase_english(phrase) or phrase
    return translated


def plain_sentences(factors: object) -> list[str]:
    """Stored factors [{"phrase", "contribution"}] as sentences a township official reads aloud: which factor
    raises the risk most, which raise it next, and which lower it (a negative contribution). Factors without a
    contribution count as raising it, in the order stored. Translated at display time."""
    if not isinstance(factors, list):
        return []
    raising: list[tuple[float, int, str]] = []
    lowering: list[tuple[float, int, str]] = []
    for index, factor in enumerate(factors):
        if not isinstance(factor, dict) or not factor.get("phrase"):
            continue
        try:
            contribution = float(factor["contribution"]) if factor.get("contribution") is not None else None
        except (TypeError, ValueError):
            contribution = None
        label = phrase_label(str(factor["phrase"]))
        if contribution is not None and contribution < 0:
            lowering.append((contribution, index, label))
        elif contribution != 0:
            raising.append((-(contribution if contribution is not None else 0.0), index, label))
    raising.sort(key=lambda item: (item[0], item[1]))
    lowering.sort()

    def quoted(items: list[tuple[float, int, str]]) -> str:
        return gettext("、").join(gettext("「%(factor)s」") % {"factor": label} for _, _i, label in items)

    sentences = []
    if raising:
        sentences.append(gettext("「%(factor)s」是抬高风险最多的因素。") % {"factor": raising[0][2]})
    if len(raising) > 1:
        sentences.append(gettext("其次是%(factors)s，也抬高风险。") % {"factors": quoted(raising[1:])})
    if lowering:
        sentences.append(gettext("%(factors)s降低风险。") % {"factors": quoted(lowering)})
    return sentences
