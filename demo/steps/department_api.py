"""The demo county's department systems: one API client per department, each with its token, and their first
exchanges made through the API itself.

The exchanges go through Django's WSGI handler in this process (django.test.Client): the same URL routing,
token authentication, scopes, rate limits, import pipeline and share recording as a call over the network, with no
server running yet. Tokens are stored hashed and shown once, so each build of the demo revokes the demo clients'
earlier tokens and issues new ones, which `make demo` prints with a curl line to try.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass

from django.test import Client

from exchange.api.models import ApiClient, ApiToken
from exchange.api.services import create_client, issue_token, revoke_token
from exchange.departments import HEALTH
from exchange.models import ImportBatch
from povertycloud.regions.models import Region

TOKEN_DAYS = 30
PUSH_PERIOD = "2026-01"  # after the department files of 2025-12
PUSHED_RECORDS = 20


@dataclass(frozen=True)
class DemoClient:
    name: str
    department: str
    scopes: tuple[str, ...]
    purpose: str


DEMO_CLIENTS = (
    DemoClient(
        "县民政局", "civil_affairs", ("push:civil_affairs", "pull:new_monitoring"), "对新识别监测对象开展救助帮扶"
    ),
    DemoClient("县医保局", "health", ("push:health", "pull:health_premium"), "落实城乡居民医保参保资助"),
    DemoClient("县教育局", "education", ("push:education", "pull:education_pupils"), "落实学费减免和学生资助"),
    DemoClient("县残联", "disability", ("push:disability",), ""),
)


@dataclass(frozen=True)
class IssuedDemoToken:
    client: ApiClient
    secret: str


def ensure_demo_clients(*, region_code: str, admin) -> list[IssuedDemoToken]:
    """The demo clients of the county (created once), each with a fresh token; earlier tokens are revoked."""
    region = Region.objects.get(code=region_code)
    issued = []
    for spec in DEMO_CLIENTS:
        client = ApiClient.objects.filter(name=spec.name, region=region).first()
        if client is None:
            client = create_client(
                name=spec.name, department=spec.department, region=region, scopes=spec.scopes,
                purpose=spec.purpose, by=admin,
            )
        for token in ApiToken.objects.filter(client=client, revoked_at__isnull=True):
            revoke_token(token=token, by=admin)
        issued.append(IssuedDemoToken(client, issue_token(client=client, by=admin, days=TOKEN_DAYS).secret))
    return issued


def run_demo_exchanges(*, tokens: list[IssuedDemoToken], say: Callable[[str], None]) -> None:
    """县医保局 pushes this month's changed records; 县教育局 and 县民政局 pull their lists (recorded as shares)."""
    by_department = {issued.client.department: issued for issued in tokens}
    health = by_department["health"]
    if not ImportBatch.objects.filter(api_client=health.client).exists():
        answer = _call(health.secret).post(
            "/api/v1/batches/",
            data=json.dumps(
                {"period": PUSH_PERIOD, "mode": "changes", "records": _changed_health_records(health.client)}
            ),
            content_type="application/json",
            headers={"Idempotency-Key": f"demo-health-{PUSH_PERIOD}"},
        )
        body = answer.json()
        if answer.status_code >= 400:
            say(f"县医保局通过接口报送失败：{body.get('message')}")
        else:
            counts = body["counts"]
            say(
                f"县医保局通过接口报送 {PUSH_PERIOD} 变更记录（批次 #{body['id']}）：共 {counts['total']} 条，"
                f"接收 {counts['accepted']}，拒收 {counts['rejected']}，新增或变更 {counts['new_versions']}。"
            )
    for department, dataset in (("education", "education_pupils"), ("civil_affairs", "new_monitoring")):
        issued = by_department[department]
        if issued.client.shares.exists():
            continue
        http, url, people, pages = _call(issued.secret), f"/api/v1/pull/{dataset}/?page_size=2000", 0, 0
        while url:
            answer = http.get(url)
            if answer.status_code != 200:
                say(f"{issued.client.name} 读取 {dataset} 失败：{answer.json().get('message')}")
                break
            body = answer.json()
            people, pages = people + len(body["results"]), pages + 1
            url = body.get("next")
        say(f"{issued.client.name}通过接口读取 {dataset}：{people} 人，{pages} 页，已记入数据共享记录。")


def _call(secret: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {secret}"})


def _changed_health_records(client: ApiClient) -> list[dict]:
    """This month's statement for a few insured people: higher out-of-pocket costs than last month's file."""
    model = HEALTH.model
    current = model.objects.filter(
        region_code__startswith=client.region.prefix, valid_to__isnull=True, insured=True, person__isnull=False
    ).order_by("id_number")[:PUSHED_RECORDS]
    records = []
    for record in current:
        values = {}
        for spec in HEALTH.fields:
            if spec.name == "period":
                continue
            value = getattr(record, spec.name)
            values[spec.name] = value if value is None or isinstance(value, bool) else str(value)
        values["out_of_pocket_ytd"] = str((record.out_of_pocket_ytd or 0) + 6000)
        records.append(values)
    return records


def curl_lines(tokens: list[IssuedDemoToken], *, base_url: str = "http://127.0.0.1:8000") -> list[str]:
    """Each demo client's token, and two calls to try: a pull, and a push of one person's record."""
    health = next(issued for issued in tokens if issued.client.department == "health")
    lines = [f"  {issued.client.name:<6} {issued.secret}" for issued in tokens]
    example = _changed_health_records(health.client)[:1]
    push = {
        "period": PUSH_PERIOD,
        "mode": "changes",
        "records": [{key: example[0][key] for key in ("id_number", "name", "insured", "insurance_type")}],
    } if example else None
    pull = f"{base_url}/api/v1/pull/health_premium/?page_size=5"
    lines += ["", f"  curl -H 'Authorization: Bearer {health.secret}' '{pull}'"]
    if push is not None:
        lines.append(
            f"  curl -H 'Authorization: Bearer {health.secret}' -H 'Content-Type: application/json' "
            f"-H 'Idempotency-Key: try-1' -d '{json.dumps(push, ensure_ascii=False)}' '{base_url}/api/v1/batches/'"
        )
    return lines
