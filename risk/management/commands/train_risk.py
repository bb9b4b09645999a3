from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from tqdm import tqdm

from povertycloud.cluster import add_cluster_argument
from risk.registry import activate_model
from risk.training import TrainingError, train_risk_models


class Command(BaseCommand):
    help = (
        "Train the risk models (poor now, return to poverty) from the years the data has, chosen "
        "automatically and reported: with three or more consecutive years of income surveys and thresholds, "
        "out of time (XGBoost and two baselines, logistic regression and the warning rules alone, trained on "
        "the cut-off years before --test-year and compared on it); with two, features at the end of the first "
        "year and outcomes in the second, tested on held-out villages; with one, the poor-now model only, as a "
        "proxy-means test blind to that year's income (XGBoost, logistic regression and an OLS PMT, tested on "
        "held-out villages) and the return model refused with the reason. Each model is stored as a RiskModel "
        "with its metrics; none is activated unless --activate (only XGBoost models that beat their best "
        "baseline on held-out data; others need --override-reason)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--seed", type=int, default=0, help="random seed (default 0); same seed + data = same model"
        )
        parser.add_argument(
            "--test-year",
            type=int,
            help="cut-off year held out for testing (default: the last with an outcome)",
        )
        parser.add_argument("--region", help="12-digit region code (default: every household)")
        add_cluster_argument(parser)
        parser.add_argument("--user", help="username recorded as the trainer (and activator with --activate)")
        parser.add_argument(
            "--activate",
            action="store_true",
            help="activate the XGBoost models (needs --user, an administrator)",
        )
        parser.add_argument(
            "--override-reason",
            default="",
            help="with --activate: activate XGBoost models that did not beat their best baseline, for this "
            "reason (audited)",
        )

    def handle(self, *args, seed, test_year, region, user, activate, override_reason, cluster=None, **options):
        actor = None
        if user:
            actor = get_user_model().objects.filter(username=user).first()
            if actor is None:
                raise CommandError(_("用户 %(user)s 不存在。") % {"user": user})
        if activate and actor is None:
            raise CommandError(_("--activate 需要用 --user 指定一名系统管理员。"))
        bar = tqdm(total=7, unit=_("步"), file=self.stderr, disable=options["verbosity"] == 0)

        def progress(message: str) -> None:
            bar.set_description(message)
            bar.update(1)

        try:
            result = train_risk_models(
                region_code=region, seed=seed, test_year=test_year, by=actor, progress=progress, cluster=cluster
            )
        except TrainingError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        self.stdout.write(_("模式：%(mode)s（%(label)s）") % {"mode": result.mode, "label": result.mode_label})
        if result.mode == "cross_sectional":
            self.stdout.write(
                _("年度 %(year)s（特征不含该年收入；在留出的村上检验），种子 %(seed)s。")
                % {"year": result.test_year, "seed": seed}
            )
        else:
            self.stdout.write(
                _("训练年度 %(years)s，检验年度 %(year)s（结果年度 %(outcome)s），种子 %(seed)s。")
                % {
                    "years": ", ".join(map(str, result.train_years)),
                    "year": result.test_year,
                    "outcome": result.test_year + 1,
                    "seed": seed,
                }
            )
        for why in result.skipped.values():
            self.stdout.write(_("未训练：%(why)s") % {"why": why})
        header = (
            f"{'target':<10}{'kind':<10}{'ROC-AUC':>9}{'PR-AUC':>9}{'Brier':>9}{'EE':>8}{'IE':>8}"
            f"{'positive':>9}{'n':>8}  version"
        )
        self.stdout.write(header)
        for row in result.table():
            self.stdout.write(
                f"{row['target']:<10}{row['kind']:<10}{_f(row['roc_auc'])}{_f(row['pr_auc'])}{_f(row['brier'])}"
                f"{_f(row['ee'], 8)}{_f(row['ie'], 8)}{row['positives']:>7}{row['n']:>8}  {row['version']}"
            )
        self.stdout.write(_("用时（秒）：") + _("，").join(f"{k} {v:.1f}" for k, v in result.seconds.items()))
        if activate:
            for model in result.models:
                if model.kind == "xgboost":
                    try:
                        activate_model(by=actor, model=model, override_reason=override_reason)
                    except (PermissionDenied, ValidationError) as exc:
                        why = _("；").join(getattr(exc, "messages", [str(exc)]))
                        raise CommandError(_("%(version)s：%(why)s") % {"version": model.version, "why": why}) from exc
                    self.stdout.write(_("已启用 %(version)s") % {"version": model.version})


def _f(value, width: int = 9) -> str:
    return f"{'—':>{width}}" if value is None else f"{value:>{width}.4f}"
