from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "povertycloud.audit"
    label = "audit"
    verbose_name = "审计日志"
