from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExchangeConfig(AppConfig):
    """Data that arrives from outside the household file: department feeds, batches, linkage, data quality."""

    name = "exchange"
    verbose_name = _("数据交换")

    def ready(self) -> None:
        from exchange.api.share_views import register_share_pages
        from exchange.selectors import department_rows_of
        from households.panels import register_member_section

        register_member_section(
            key="department_records",
            template="exchange/_household_records.html",
            context=lambda members, user: {"department_records": department_rows_of(members, user)},
        )
        register_share_pages()
