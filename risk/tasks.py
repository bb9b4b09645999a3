"""Background tasks of the modelling side (django-tasks; its database backend runs them in `db_worker`).

Each calls the same service as its management command; dates travel as ISO strings, users by id."""

import datetime as dt

from django.contrib.auth import get_user_model
from django_tasks import task

from risk.jobs import CountyTracker, run_job
from risk.models import Job
from risk.rules import run_warning_rules
from risk.scoring import covering_region, score_region
from risk.services import open_cases_from_run
from risk.training import train_risk_models


def _user(user_id: int | None):
    return get_user_model().objects.filter(pk=user_id).first() if user_id else None


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


@task()
def train_risk_task(
    seed: int = 0,
    test_year: int | None = None,
    region_code: str | None = None,
    user_id: int | None = None,
    job_id: int | None = None,
) -> dict:
    """Train the risk models; started from the models page it runs as a Job (one training at a time)."""
    if job_id is not None:

        def work(job: Job) -> dict:
            parameters = job.parameters or {}
            region_code = job.region_code or covering_region()
            return _train(
                seed=parameters.get("seed", 0),
                test_year=parameters.get("test_year"),
                region_code=region_code,
                user=job.requested_by,
                on_county=CountyTracker(job.pk, region_code),
            )

        return run_job(job_id=job_id, work=work)
    return _train(seed=seed, test_year=test_year, region_code=region_code, user=_user(user_id))


def _train(*, seed: int, test_year: int | None, region_code: str | None, user, on_county=None) -> dict:
    """Above county level each county's data is prepared by its own task and the models train on Dask
    (settings.DASK_SCHEDULER_ADDRESS, else a LocalCluster); the job's row says which counties are done."""
    result = train_risk_models(
        region_code=region_code, seed=seed, test_year=test_year, by=user, on_county=on_county
    )
    return {
        "models": [m.pk for m in result.models],
        "test_year": result.test_year,
        "metrics": result.table(),
        "seconds": result.seconds,
    }


@task()
def score_risk_task(
    as_of: str | None = None, region_code: str | None = None, user_id: int | None = None, open_cases: bool = True
) -> dict:
    user = _user(user_id)
    run = score_region(region_code=region_code, as_of=_date(as_of), by=user)
    result = {"run": run.pk, "households": run.households_scored, "explained": run.explained}
    if open_cases:
        opened = open_cases_from_run(run=run, by=user)
        result.update(cases_opened=opened.opened, cases_joined=opened.joined)
    return result


@task()
def run_warning_rules_task(
    as_of: str | None = None, region_code: str | None = None, user_id: int | None = None
) -> dict:
    result = run_warning_rules(as_of=_date(as_of), region_code=region_code, by=_user(user_id))
    return {
        "as_of": result.as_of.isoformat(),
        "fired": result.fired,
        "created": result.created,
        "by_rule": result.by_rule,
    }


@task()
def refresh_risk_list_task(
    region_code: str | None = None, user_id: int | None = None, job_id: int | None = None
) -> dict:
    """What county staff start from the risk list: today's warning rules, a scoring run with the active
    models, and the cases both open. Started from the page it runs as a Job: one refresh at a time. Above
    county level each county is a task on Dask (settings.DASK_SCHEDULER_ADDRESS, else a LocalCluster), and
    the job's row says which counties are done."""
    if job_id is not None:
        return run_job(
            job_id=job_id,
            work=lambda job: _refresh(region_code=job.region_code or None, user=job.requested_by, job_id=job.pk),
        )
    return _refresh(region_code=region_code, user=_user(user_id))


def _refresh(*, region_code: str | None, user, job_id: int | None = None) -> dict:
    region_code = region_code or covering_region()
    tracker = CountyTracker(job_id, region_code) if job_id is not None else None
    rules = run_warning_rules(region_code=region_code, by=user, on_county=tracker)
    run = score_region(region_code=region_code, by=user, on_county=tracker)
    opened = open_cases_from_run(run=run, by=user)
    return {
        "warnings": rules.created,
        "run": run.pk,
        "households": run.households_scored,
        "explained": run.explained,
        "cases_opened": opened.opened,
        "cases_joined": opened.joined,
    }
