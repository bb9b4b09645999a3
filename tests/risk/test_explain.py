"""Explanations: plain Chinese phrases from positive contributions on the risky side of the average, top 3."""

import re

import numpy as np

from risk.explain import BANDS, PHRASES, top_factors
from risk.features import FEATURES

CHINESE = re.compile(r"^[\u4e00-\u9fff（）/A-Z：、 ]+$")


def test_every_feature_has_a_plain_chinese_phrase():
    assert set(FEATURES) <= set(PHRASES)
    for phrase, direction in PHRASES.values():
        assert CHINESE.match(phrase), phrase
        assert direction in {"high", "low"}
    assert all(CHINESE.match(band) for bands in BANDS.values() for _, band in bands)


def test_only_positive_contributions_on_the_risky_side_are_named_largest_first():
    features = ["medical_spending", "working_age_labour", "disabled_severe", "dept_dropout", "size"]
    reference = np.array([0.2, 2.0, 0.05, 0.0, 3.5])
    values = np.array(
        [
            [1.5, 1.0, 1.0, 1.0, 6.0],  # all risky
            [
                1.5,
                3.0,
                0.0,
                0.0,
                2.0,
            ],  # more labour than most: not "劳动力不足", even with a positive contribution
        ]
    )
    contributions = np.array(
        [
            [0.9, 0.4, -0.2, 0.6, 0.1],
            [0.9, 0.4, 0.3, 0.0, 0.2],
        ]
    )
    first, second = top_factors(contributions, values, features, reference)
    assert [f["phrase"] for f in first] == ["大病医疗自付费用高", "有义务教育阶段辍学子女", "家庭劳动力不足"]
    assert [f["contribution"] for f in first] == [0.9, 0.6, 0.4]
    assert [f["phrase"] for f in second] == ["大病医疗自付费用高"]


def test_features_sharing_a_phrase_add_up_and_bands_say_where_income_lies():
    features = ["income_ratio", "below_threshold", "dept_self_pay", "medical_spending"]
    reference = np.array([2.5, 0.07, 0.2, 0.2])
    values = np.array([[0.8, 1.0, 2.0, 1.5], [1.3, 0.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0]])
    contributions = np.array([[1.0, 0.5, 0.2, 0.3], [0.7, 0.0, 0.0, 0.0], [0.2, 0.0, 0.0, 0.0]])
    low, near, below_average = top_factors(contributions, values, features, reference)
    assert low == [
        {"phrase": "人均纯收入低于监测标准", "contribution": 1.5},
        {"phrase": "大病医疗自付费用高", "contribution": 0.5},
    ]
    assert near == [{"phrase": "人均纯收入接近监测标准", "contribution": 0.7}]
    assert below_average == [{"phrase": "人均纯收入偏低", "contribution": 0.2}]


def test_missing_values_are_never_a_reason():
    factors = top_factors(np.array([[0.5]]), np.array([[np.nan]]), ["ill_serious"], np.array([0.1]))
    assert factors == [[]]
