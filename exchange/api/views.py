"""The API's own pages: who is calling (me), the schema's documentation page."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from exchange.api.datasets import DATASETS
from exchange.api.services import readable_fields
from exchange.selectors import department_name


class ErrorSerializer(serializers.Serializer):
    """The shape of every error answer."""

    class FaultSerializer(serializers.Serializer):
        field = serializers.CharField(allow_null=True)
        code = serializers.CharField()
        message = serializers.CharField()

    code = serializers.CharField(help_text=_("稳定的错误代码，如 token_expired、scope_missing、invalid"))
    message = serializers.CharField(help_text=_("按调用方语言（Accept-Language）给出的说明"))
    field = serializers.CharField(allow_null=True, help_text=_("出错的输入项；与具体输入无关时为空"))
    errors = FaultSerializer(many=True)


ERRORS = {code: ErrorSerializer for code in (400, 401, 403, 404, 429)}




class MeSerializer(serializers.Serializer):
    client = serializers.CharField()
    department = serializers.CharField()
    department_name = serializers.CharField()
    region_code = serializers.CharField()
    region_name = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    readable_fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
    token_expires_at = serializers.DateTimeField()


class MeView(APIView):
    @extend_schema(
        summary=_("当前客户端"),
        description=_("令牌所属的客户端、部门、区划、权限范围、各数据集可读字段和令牌到期时间。"),
        responses={200: MeSerializer, **ERRORS},
        tags=["client"],
    )
    def get(self, request):
        client, token = request.user, request.auth
        data = {
            "client": client.name,
            "department": client.department,
            "department_name": department_name(client.department),
            "region_code": client.region.code,
            "region_name": client.region.name,
            "scopes": client.scopes,
            "readable_fields": {
                slug: readable_fields(client, slug) for slug, d in DATASETS.items() if client.has_scope(d.scope)
            },
            "token_expires_at": token.expires_at,
        }
        return Response(MeSerializer(data).data)


class DocsView(SpectacularSwaggerSplitView):
    """Swagger UI from this site's own files. Its widgets set style attributes, which the site-wide policy
    forbids; this page alone allows them (scripts stay the site's own)."""

    schema = None  # the page that shows the schema is not part of it

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        response["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
        )
        return response
