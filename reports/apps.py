from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = _("成效考核与审计报告")

    def ready(self) -> None:
        from povertycloud.downloads import registry
        from reports import exports

        registry.register(
            exports.DOWNLOAD_KIND, exports.produce_download, label=_("审计导出"), describe=exports.describe_download
        )
