from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HouseholdsConfig(AppConfig):
    name = "households"
    verbose_name = _("一户一档")

    def ready(self) -> None:
        from households import downloads
        from povertycloud.downloads import registry

        registry.register(
            downloads.DOWNLOAD_KIND, downloads.produce_download, label=_("户档案 Excel"),
            describe=downloads.describe_download,
        )
