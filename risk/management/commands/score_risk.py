import datetime as dt

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from tqdm import tqdm

from povertycloud.cluster import add_cluster_argument
from risk.scoring import NoActiveModel, models_used, score_region
from risk.services import open_cases_from_run


class Command(BaseCommand):
    help = (
        "Score every household of a region with the active models: p_poor, p_return, a level (top 5% high, "
        "next 10% medium) and the top factors in plain words for the risk list. One ScoringRun naming the "
        "models used. The poor-now model is required; without an active return model (a county with one year "
        "of income) p_return stays empty and levels go by p_poor. Then opens a 预警 case for each township's "
        "top households (its review capacity) and for "
        "every household with a new department warning, unless --no-cases."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--as-of", type=dt.date.fromisoformat, help="date of the features (default today)"
        )
        parser.add_argument(
            "--region", help="12-digit region code (default: the region covering every household)"
        )
        parser.add_argument("--user", help="username recorded as the one who started the run")
        add_cluster_argument(parser)
        parser.add_argument("--no-cases", action="store_true", help="score only; open no cases for review")

    def handle(self, *args, as_of, region, user, no_cases, cluster, **options):
        actor = None
        if user:
            actor = get_user_model().objects.filter(username=user).first()
            if actor is None:
                raise CommandError(_("用户 %(user)s 不存在。") % {"user": user})
        bar = tqdm(total=5, unit=_("步"), file=self.stderr, disable=options["verbosity"] == 0)

        def progress(message: str) -> None:
            bar.set_description(message)
            bar.update(1)

        def county_done(county: str, step: str) -> None:
            if step == "scored":
                bar.write(_("县 %(county)s：特征与概率已完成") % {"county": county}, file=self.stderr)

        try:
            run = score_region(
                region_code=region, as_of=as_of, by=actor, progress=progress, cluster=cluster, on_county=county_done
            )
        except (NoActiveModel, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        seconds = (run.finished_at - run.started_at).total_seconds()
        self.stdout.write(
            _(
                "评分批次 #%(run)s（截至 %(as_of)s，区划 %(region)s）：%(households)s 户，附解释 %(explained)s 户；"
                "%(models)s；写入用时 %(seconds)s 秒。"
            )
            % {
                "run": run.pk, "as_of": run.as_of, "region": run.region_code, "households": run.households_scored,
                "explained": run.explained, "models": models_used(run.poor_model, run.return_model),
                "seconds": f"{seconds:.1f}",
            }
        )
        if not no_cases:
            opened = open_cases_from_run(run=run, by=actor)
            self.stdout.write(
                _(
                    "待核实：新开 %(opened)s 户（评分前列 %(top)s，部门预警 %(warned)s），"
                    "并入已有核实 %(joined)s 户。"
                )
                % {"opened": opened.opened, "top": opened.top_ranked, "warned": opened.warned, "joined": opened.joined}
            )
