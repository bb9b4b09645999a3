"""What the exchange's commands (import_feed, import_registry, rollback_batch) share: the user named by an
option, and a progress bar of rows on stderr."""

from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from tqdm import tqdm


def user_named(username: str | None):
    """The user of that name (None when no name is given); an unknown name stops the command."""
    if not username:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(_("用户 %(username)s 不存在。") % {"username": username})
    return user


def row_progress(stderr, *, verbosity: int) -> tuple[tqdm, Callable[[int, int], None]]:
    """A bar of rows (silent at verbosity 0) and the progress(done, total) callback the imports call."""
    bar = tqdm(
        total=0, unit=str(pgettext("progress bar unit", "行")), file=stderr, disable=verbosity == 0, dynamic_ncols=True
    )

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return bar, progress
