import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """The shared user fixtures hash a password each; PBKDF2 costs most of a second and is not tested here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _report_files(settings, tmp_path):
    """Generated reports go to a directory of the test's own."""
    settings.VAR_DIR = tmp_path / "var"
