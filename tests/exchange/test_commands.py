"""The exchange commands name their user by --user / --by: an unknown name stops the command, nothing written."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from exchange.models import ImportBatch
from tests.exchange.registry_files import small_export
from tests.factories import COUNTY

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "args",
    [
        lambda paths: ["import_registry", "--region", COUNTY, "--as-of", "2025-12-31", "--user", "nobody", *paths],
        lambda paths: ["import_feed", "health", str(paths[0]), "--region", COUNTY, "--period", "2025-12",
                       "--user", "nobody"],
    ],
    ids=["import_registry", "import_feed"],
)
def test_an_unknown_user_stops_the_command_and_writes_nothing(regions, tmp_path, args):
    with pytest.raises(CommandError, match="用户 nobody 不存在"):
        call_command(*[str(a) for a in args(small_export(tmp_path))])
    assert not ImportBatch.objects.exists()


def test_an_undo_by_an_unknown_user_stops_and_the_batch_stands(regions, tmp_path):
    import datetime as dt

    from exchange.registry.service import import_registry

    batch = import_registry(region_code=COUNTY, paths=small_export(tmp_path), by=None, as_of=dt.date(2025, 12, 31))
    with pytest.raises(CommandError, match="用户 nobody 不存在"):
        call_command("rollback_batch", str(batch.pk), "--reason", "试", "--by", "nobody", "--apply")
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.SUCCEEDED
