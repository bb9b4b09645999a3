"""Demo users: one of each role, township officials in two townships. Passwords are printed by `make demo`."""

from dataclasses import dataclass

from django.db import transaction

from povertycloud.accounts.models import Role, User


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: str
    region_code: str | None
    full_name: str
    is_staff: bool = False
    is_superuser: bool = False


DEMO_USERS = (
    DemoUser("xijiang", "xijiang-demo-2026", Role.TOWNSHIP_OFFICIAL, "522634101000", "杨秀英"),
    DemoUser("langde", "langde-demo-2026", Role.TOWNSHIP_OFFICIAL, "522634103000", "吴国华"),
    # A second official in each township: who applies for a risk elimination may not pass its township review.
    DemoUser("xijiang2", "xijiang2-demo-2026", Role.TOWNSHIP_OFFICIAL, "522634101000", "龙秀梅"),
    DemoUser("langde2", "langde2-demo-2026", Role.TOWNSHIP_OFFICIAL, "522634103000", "潘文军"),
    DemoUser("county", "county-demo-2026", Role.COUNTY_STAFF, "522634000000", "李建军"),
    DemoUser("auditor", "auditor-demo-2026", Role.AUDITOR, "522634000000", "王丽华"),
    DemoUser("admin", "admin-demo-2026", Role.ADMIN, None, "陈志远", is_staff=True, is_superuser=True),
)


@transaction.atomic
def ensure_demo_users() -> list[tuple[DemoUser, User]]:
    created = []
    for spec in DEMO_USERS:
        user = User.objects.filter(username=spec.username).first() or User(username=spec.username)
        user.role = spec.role
        user.region_id = spec.region_code
        user.last_name, user.first_name = spec.full_name[:1], spec.full_name[1:]
        user.is_staff = spec.is_staff
        user.is_superuser = spec.is_superuser
        user.is_active = True
        user.set_password(spec.password)
        user.save()
        created.append((spec, user))
    return created
