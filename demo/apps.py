from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo county: builds it and runs every capability on it. Sits above all other apps."""

    name = "demo"
    verbose_name = "演示县"
