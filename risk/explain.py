"""The top factors of a household's score, in plain Chinese, from the model's own per-row contributions.

The contributions are the model's (XGBoost: Booster.predict(..., pred_contribs=True), in log-odds; the
logistic baseline: coefficient × standardised value; the rules baseline: the weight of each rule fired). A
factor is named only where its contribution is positive (it raises the risk) and the household's value lies
on the risky side of the training average ("high" features above it, "low" ones below), so that a phrase
such as "家庭劳动力不足" is never said of a household with more labour than most. A few features say more
precisely where the value lies (BANDS: per-capita income under the threshold, or within 1.5 times it).
Features sharing a phrase add up; the three largest phrases are kept.
"""

import numpy as np

HIGH, LOW = "high", "low"
TOP = 3

PHRASES: dict[str, tuple[str, str]] = {
    # income
    "income_ratio": ("人均纯收入偏低", LOW),
    "below_threshold": ("人均纯收入低于监测标准", HIGH),
    "net_income": ("家庭纯收入低", LOW),
    "income_ratio_prev": ("上年人均纯收入偏低", LOW),
    "income_ratio_min": ("近年人均纯收入偏低", LOW),
    "years_below": ("多年人均纯收入低于监测标准", HIGH),
    "income_change": ("人均纯收入大幅下降", LOW),
    "income_ratio_slope": ("收入呈下降趋势", LOW),
    "wage_change": ("务工收入减少", LOW),
    "business_change": ("生产经营收入减少", LOW),
    "wage_share": ("工资性收入占比低", LOW),
    "business_share": ("收入依赖种养殖等生产经营", HIGH),
    "property_share": ("财产性收入少", LOW),
    "transfer_share": ("收入主要依靠转移性收入", HIGH),
    "cost_share": ("生产经营成本高", HIGH),
    "income_years": ("收入记录少", LOW),
    "income_gap_years": ("收入调查数据陈旧", HIGH),
    "dibao_income_received": ("享受低保", HIGH),
    "tekun_income_received": ("享受特困供养", HIGH),
    "dibao_income_stopped": ("低保已停止", HIGH),
    "loans": ("有借贷", HIGH),
    "temporary_relief": ("接受过临时救助", HIGH),
    # rigid spending
    "medical_spending": ("大病医疗自付费用高", HIGH),
    "medical_spending_prev": ("上年医疗自付费用高", HIGH),
    "education_spending": ("就学费用负担重", HIGH),
    "rigid_spending_share": ("医疗和教育刚性支出占收入比重高", HIGH),
    "rigid_per_person": ("医疗和教育刚性支出占收入比重高", HIGH),
    # people
    "size": ("家庭人口多", HIGH),
    "children": ("未成年子女多", HIGH),
    "elderly": ("老年人口多", HIGH),
    "working_age": ("家庭劳动力不足", LOW),
    "working_age_labour": ("家庭劳动力不足", LOW),
    "labour_able": ("家庭劳动力不足", LOW),
    "labour_weak": ("有弱劳动力或半劳动力", HIGH),
    "labour_lost": ("有丧失劳动力的成员", HIGH),
    "whole_unable_to_work": ("整户无劳动能力", HIGH),
    "dependants_share": ("抚养赡养负担重", HIGH),
    "only_elderly": ("家中只有老年人", HIGH),
    "compulsory_age_children": ("有义务教育阶段子女", HIGH),
    "disabled_severe": ("有重度残疾成员", HIGH),
    "disabled_any": ("有残疾成员", HIGH),
    "ill_serious": ("有患大病成员", HIGH),
    "ill_chronic": ("有长期慢性病成员", HIGH),
    "head_age": ("户主年龄大", HIGH),
    "head_female": ("女性户主", HIGH),
    "head_education": ("户主文化程度低", LOW),
    "adults_low_education": ("成年人文化程度低", HIGH),
    "students_compulsory": ("有义务教育阶段在校生", HIGH),
    "students_high": ("有高中或中职在读子女", HIGH),
    "students_higher": ("有大学在读子女", HIGH),
    "out_of_school_children": ("有义务教育阶段辍学子女", HIGH),
    "migrant_workers": ("外出务工人数少", LOW),
    "migrant_months": ("外出务工时间短", LOW),
    "welfare_jobs": ("依靠公益性岗位", HIGH),
    "welfare_months": ("依靠公益性岗位", HIGH),
    "dibao_members": ("享受低保", HIGH),
    "tekun_members": ("享受特困供养", HIGH),
    "uninsured_members": ("有成员未参加基本医疗保险", HIGH),
    # household
    "lifted": ("脱贫户", HIGH),
    "dibao_lifted": ("低保脱贫户", HIGH),
    "tekun_lifted": ("特困供养脱贫户", HIGH),
    "years_since_lifted": ("脱贫时间短", LOW),
    "cultivated_land_mu": ("耕地少", LOW),
    "forest_land_mu": ("林地少", LOW),
    "land_per_person": ("人均耕地少", LOW),
    "housing_unsafe": ("住房不安全（C/D 级危房）", HIGH),
    "unsafe_water": ("饮水不安全", HIGH),
    "no_sanitary_toilet": ("无卫生厕所", HIGH),
    "no_road": ("未通入户路", HIGH),
    # monitoring history
    "monitored_now": ("当前为监测对象", HIGH),
    "monitoring_unstable": ("当前为脱贫不稳定户", HIGH),
    "monitoring_edge": ("当前为边缘易致贫户", HIGH),
    "monitoring_hardship": ("当前为突发严重困难户", HIGH),
    "ever_monitored": ("曾纳入监测", HIGH),
    "times_identified": ("曾纳入监测", HIGH),
    "times_eliminated": ("曾风险消除", HIGH),
    "returned_before": ("曾返贫", HIGH),
    "months_since_identified": ("纳入监测时间不长", LOW),
    "months_since_eliminated": ("风险消除不久", LOW),
    "risk_count": ("风险类型多", HIGH),
    "risk_illness": ("风险类型：因病", HIGH),
    "risk_disability": ("风险类型：因残", HIGH),
    "risk_study": ("风险类型：因学", HIGH),
    "risk_disaster": ("风险类型：因自然灾害", HIGH),
    "risk_accident": ("风险类型：因意外事故", HIGH),
    "risk_industry": ("风险类型：因产业项目失败", HIGH),
    "risk_job": ("风险类型：因务工就业不稳", HIGH),
    "risk_labour": ("风险类型：缺劳动力", HIGH),
    "risk_housing": ("风险类型：因安全住房", HIGH),
    "risk_water": ("风险类型：因安全饮水", HIGH),
    # department records
    "dept_self_pay": ("大病医疗自付费用高", HIGH),
    "dept_self_pay_max": ("大病医疗自付费用高", HIGH),
    "dept_stay_max": ("住院自付费用高", HIGH),
    "dept_outpatient_max": ("门诊费用高", HIGH),
    "dept_uninsured": ("有成员未参加基本医疗保险", HIGH),
    "dept_serious": ("有患大病成员", HIGH),
    "dept_serious_new": ("新确诊大病", HIGH),
    "dept_chronic": ("有长期慢性病成员", HIGH),
    "dept_dibao": ("享受低保", HIGH),
    "dept_dibao_stopped": ("低保已停止", HIGH),
    "dept_tekun": ("享受特困供养", HIGH),
    "dept_relief_count": ("多次接受临时救助", HIGH),
    "dept_relief_amount": ("接受过临时救助", HIGH),
    "dept_orphans": ("有孤儿或事实无人抚养儿童", HIGH),
    "dept_students": ("有在校学生", HIGH),
    "dept_dropout": ("有义务教育阶段辍学子女", HIGH),
    "dept_study_cost": ("就学费用负担重", HIGH),
    "dept_study_cost_max": ("就学费用负担重", HIGH),
    "warnings": ("有部门预警", HIGH),
}


# Sharper phrases by value: the first band whose upper bound the value is under (income in thresholds).
BANDS: dict[str, list[tuple[float, str]]] = {
    "income_ratio": [(1.0, "人均纯收入低于监测标准"), (1.5, "人均纯收入接近监测标准")],
    "income_ratio_min": [(1.0, "近年人均纯收入曾低于监测标准"), (1.5, "近年人均纯收入曾接近监测标准")],
    "income_ratio_prev": [(1.0, "上年人均纯收入低于监测标准"), (1.5, "上年人均纯收入接近监测标准")],
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
    order = np.argsort(-by_phrase, axis=1, kind="stable")[:, :top]
    return [
        [
            {"phrase": labels[k], "contribution": round(float(by_phrase[i, k]), 4)}
            for k in order[i]
            if by_phrase[i, k] > 0
        ]
        for i in rows
    ]
