"""The household's audit trail names fields and coded values as people read them, also for records of later apps
(a risk case's status), and a registry conflict names its field by its label."""

import pytest

from households.selectors import audit_trail
from povertycloud.audit.services import record_event
from tests.factories import make_household

pytestmark = pytest.mark.django_db


def test_a_risk_case_change_shows_field_labels_and_status_labels(official_a):
    household = make_household()
    record_event(
        actor=official_a,
        action="update",
        entity="risk.riskcase",
        object_pk=1,
        region_code=household.village_id,
        household_id=household.pk,
        changes={"status": {"before": "warned", "after": "verifying"}},
    )
    [entry] = [e for e in audit_trail(household, official_a) if e.event.entity == "risk.riskcase"]
    [change] = entry.changes
    assert (change.label, change.before, change.after) == ("状态", "预警", "核实中")


def test_an_unknown_entity_or_field_is_shown_by_its_name(official_a):
    household = make_household()
    record_event(
        actor=official_a,
        action="update",
        entity="nowhere.thing",
        region_code=household.village_id,
        household_id=household.pk,
        changes={"colour": {"before": "red", "after": "blue"}},
    )
    [entry] = [e for e in audit_trail(household, official_a) if e.event.entity == "nowhere.thing"]
    assert [(c.label, c.before, c.after) for c in entry.changes] == [("colour", "red", "blue")]


def test_a_registry_conflict_names_its_field_by_label():
    from exchange.registry.models import RegistryConflict

    assert RegistryConflict(entity="households.person", field="left_on").field_label == "离开日期"
    assert RegistryConflict(entity="households.person", field="no_such_field").field_label == "no_such_field"
    assert RegistryConflict(entity="no.model", field="left_on").field_label == "left_on"
