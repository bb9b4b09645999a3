"""The data dictionary read once per request (households.codes.codebook_once)."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from households.codes import codebook_once


class CodebookPerRequestMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with codebook_once():
            return self.get_response(request)
