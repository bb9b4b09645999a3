"""The data dictionary is read from the cache once per request or export, and a change within it is seen."""

import pytest
from django.core.cache import cache
from django.test import Client

from households import codes
from households.codes import codebook, codebook_once, forget_codebook
from tests.households.pages import add_spouse, make_file

pytestmark = pytest.mark.django_db


def _count_cache_reads(monkeypatch) -> list[str]:
    reads: list[str] = []
    real_get = cache.get

    def counting_get(key, *args, **kwargs):
        if key == codes.CACHE_KEY:
            reads.append(key)
        return real_get(key, *args, **kwargs)

    monkeypatch.setattr(codes.cache, "get", counting_get)
    return reads


def test_inside_the_block_the_book_is_read_once(monkeypatch):
    codebook()
    reads = _count_cache_reads(monkeypatch)
    with codebook_once():
        first = codebook()
        for _ in range(50):
            assert codebook() is first
    assert len(reads) == 1


def test_outside_the_block_each_call_reads_the_cache(monkeypatch):
    codebook()
    reads = _count_cache_reads(monkeypatch)
    codebook()
    codebook()
    assert len(reads) == 2


def test_forgetting_inside_the_block_reads_the_new_dictionary(monkeypatch):
    with codebook_once():
        before = codebook()
        forget_codebook()
        after = codebook()
    assert after is not before


def test_a_page_reads_the_book_once(monkeypatch, official_a):
    household = make_file(official_a)
    add_spouse(official_a, household)
    client = Client()
    client.force_login(official_a)
    client.get(f"/households/{household.pk}/")
    reads = _count_cache_reads(monkeypatch)
    assert client.get(f"/households/{household.pk}/").status_code == 200
    assert len(reads) == 1
