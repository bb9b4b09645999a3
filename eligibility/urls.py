from django.urls import path

from eligibility import views

app_name = "eligibility"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("run/", views.run_checks, name="run"),
    path("hits/", views.hit_list, name="hits"),
    path("hits/<int:pk>/", views.hit_detail, name="hit"),
    path("hits/<int:pk>/confirm/", views.confirm, name="confirm"),
    path("hits/<int:pk>/dismiss/", views.dismiss, name="dismiss"),
]
