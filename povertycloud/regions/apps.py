from django.apps import AppConfig


class RegionsConfig(AppConfig):
    name = "povertycloud.regions"
    label = "regions"
    verbose_name = "行政区划"
