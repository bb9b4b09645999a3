from django.urls import path

from risk import quota_views, views

app_name = "risk"

urlpatterns = [
    path("", views.risk_list, name="list"),
    path("cases/", views.case_list, name="cases"),
    path("cases/<int:pk>/", views.case_detail, name="case"),
    path("cases/<int:pk>/assign/", views.case_assign, name="assign"),
    path("cases/<int:pk>/visit/", views.case_visit, name="visit"),
    path("cases/<int:pk>/decide/", views.case_decide, name="decide"),
    path("cases/<int:pk>/exclude/", views.case_exclude, name="exclude"),
    path("refresh/", views.risk_refresh, name="refresh"),
    path("models/", views.model_list, name="models"),
    path("models/train/", views.model_train, name="train"),
    path("models/<int:pk>/activate/", views.model_activate, name="activate"),
    path("models/<int:pk>/override/", views.model_override, name="override"),
    path("quota/", quota_views.quota_home, name="quota_home"),
    path("quota/<str:code>/", quota_views.quota_page, name="quota"),
]
