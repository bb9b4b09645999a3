"""The demo county's assumptions in one place: thresholds, rates, amounts. docs/demo-county.md explains them.

None of these are facts about Leishan: they are plausible values chosen so that the demo data looks and
behaves like a poor mountain county in Guizhou. The real monitoring threshold is a table keyed by (region,
year) that administrators edit (domain.md §4); until that feature exists the generator uses
MONITORING_THRESHOLDS below.
"""

import datetime as dt

# The demo county by default; generate_county(regions_file=...) writes any other county's files, its code,
# ID region and names read from that county's region list (villages.read_county).
COUNTY_CODE = "522634000000"
COUNTY_PREFIX = "522634"
ID_REGION = "522634"
COUNTY_NAME = "雷山县"
HOME_PLACE = "贵州省雷山县"  # the county as a work place (names.WORK_PLACES)

YEARS = (2021, 2022, 2023, 2024, 2025)
AS_OF = dt.date(2025, 12, 31)  # the county as it stands at the end of the latest period
PERIOD = "2025-12"  # the department files' period

# Demo assumption: per-capita net income (yuan) below which a household is within the monitoring range.
MONITORING_THRESHOLDS = {2021: 6000, 2022: 6500, 2023: 7300, 2024: 7600, 2025: 8000}

# --- Households and people ---------------------------------------------------------------------------

HOUSEHOLD_SIZE_WEIGHTS = {1: 0.09, 2: 0.16, 3: 0.19, 4: 0.22, 5: 0.16, 6: 0.10, 7: 0.05, 8: 0.03}
LIFTED_SHARE = 0.35  # 脱贫户
LIFTED_YEAR_WEIGHTS = {2014: 0.05, 2015: 0.10, 2016: 0.20, 2017: 0.20, 2018: 0.20, 2019: 0.20, 2020: 0.05}
POVERTY_ATTRIBUTE_WEIGHTS = {"1": 0.80, "2": 0.17, "3": 0.03}  # 一般 / 低保 / 特困供养脱贫户
POVERTY_CAUSE_WEIGHTS = {
    "07": 0.25,
    "09": 0.20,
    "01": 0.15,
    "08": 0.10,
    "03": 0.08,
    "02": 0.07,
    "10": 0.05,
    "11": 0.04,
    "04": 0.03,
    "05": 0.02,
    "06": 0.01,
}

# 民族 by kind of village: most of Leishan is Miao; 达地水族乡 is half Shui; the town has more Han.
ETHNICITY_WEIGHTS = {
    "default": {"06": 0.86, "01": 0.07, "25": 0.02, "12": 0.03, "09": 0.01, "13": 0.005, "15": 0.005},
    "shui": {"25": 0.46, "06": 0.44, "01": 0.08, "12": 0.02},
    "town": {"06": 0.62, "01": 0.30, "12": 0.04, "25": 0.02, "09": 0.01, "15": 0.01},
}
SPOUSE_OTHER_ETHNICITY = 0.12

CHRONIC_BY_AGE = ((16, 0.005), (45, 0.04), (60, 0.12), (70, 0.25), (200, 0.35))  # (age below, probability)
DISABILITY_BY_AGE = ((16, 0.01), (60, 0.04), (200, 0.12))
SERIOUS_ILLNESS_BASE = 0.006
DISABILITY_CATEGORY_WEIGHTS = {"4": 0.45, "1": 0.12, "2": 0.12, "3": 0.02, "5": 0.10, "6": 0.09, "7": 0.10}
DISABILITY_GRADE_WEIGHTS = {"1": 0.10, "2": 0.20, "3": 0.30, "4": 0.40}
DISABILITY_CERTIFICATE_SHARE = 0.85

MIGRANT_SHARE = {"1": 0.70, "2": 0.50}  # of able people 18–55 not in school, by sex
EMPLOYEE_INSURANCE_SHARE_SKILLED_MIGRANT = 0.25
CRITICAL_ILLNESS_INSURANCE_SHARE = 0.98
PENSION_INSURANCE_SHARE = 0.88
PUBLIC_WELFARE_JOB_SHARE = {"lifted": 0.08, "ordinary": 0.02}  # of able people 40–65 not working away

# --- Money (yuan) ------------------------------------------------------------------------------------

WAGE_INDEX = {2021: 0.85, 2022: 0.86, 2023: 0.91, 2024: 0.96, 2025: 1.00}
MIGRANT_MONTHLY_WAGE = {"1": 4800, "2": 6200}  # 2025, by 劳动技能 (普通 / 技能)
LOCAL_ANNUAL_WAGE = 20000  # median, for those who find work near home (county town, tea, building sites)
LOCAL_WORK_SHARE = 0.9
PUBLIC_WELFARE_MONTHLY = {2021: 600, 2022: 600, 2023: 650, 2024: 700, 2025: 700}
FARM_INCOME_PER_MU = 1500  # rice, maize, vegetables and tea gardens
FORESTRY_INCOME_PER_MU = 60
ECO_COMPENSATION_PER_MU = 16
LAND_SUBSIDY_PER_MU = 90
ELDERLY_SUPPORT = 12000  # median yearly support from children living elsewhere, households of the old
SKIPPED_GENERATION_REMITTANCE = 15000  # median yearly money from parents working away
TOURISM_INDEX = {2021: 0.7, 2022: 0.45, 2023: 1.0, 2024: 1.1, 2025: 1.15}
PENSION_YEARLY = {2021: 1380, 2022: 1440, 2023: 1560, 2024: 1680, 2025: 1800}
DIBAO_LINE_2025 = 6500  # per capita, yearly: below it (before 低保) a household may be granted 低保
DIBAO_MONTHLY_BY_CLASS = {"一类": 480, "二类": 330, "三类": 180}  # 2025, per person
DIBAO_INDEX = {2021: 0.85, 2022: 0.89, 2023: 0.93, 2024: 0.97, 2025: 1.00}
TEKUN_MONTHLY = 750
DISABILITY_ALLOWANCE_MONTHLY = 90  # each of 困难残疾人生活补贴 and 重度残疾人护理补贴

# --- Shocks: probability per household and year, and their effects (incomes.py) ----------------------

ILLNESS_BASE = 0.025
ILLNESS_IF_ELDERLY = 0.025
ILLNESS_IF_CHRONIC = 0.02
ACCIDENT = 0.008
JOB_LOSS_IF_MIGRANT = {2021: 0.05, 2022: 0.12, 2023: 0.06, 2024: 0.05, 2025: 0.05}
JOB_LOSS_RECOVERY = 0.7
VILLAGE_DISASTER = 0.12  # a village hit in a year
HOUSEHOLD_HIT_IN_DISASTER = 0.35
DISASTER_SUBTYPE_WEIGHTS = {"1": 0.45, "2": 0.25, "5": 0.20, "3": 0.07, "4": 0.03}
INDUSTRY_FAILURE_IF_BUSINESS = 0.02
FRAGILE_SHARE = 0.02  # households whose income stays low whatever happens

# --- Monitoring ---------------------------------------------------------------------------------------

IDENTIFIED_IN_YEAR = (
    0.85  # an eligible household found in the same year; the rest the next year if still eligible
)
ELIMINATED_WHEN_RECOVERED = 0.95
HARDSHIP_DROP = 0.6  # income below 60% of last year's ⇒ sharp drop (突发严重困难), with a shock
HARDSHIP_SPENDING = 10000  # rigid spending (medical + education) at least this much
HARDSHIP_SPENDING_SHARE = 0.5  # and more than this share of net income
EDUCATION_RISK_SPENDING = 10000
