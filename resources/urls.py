from django.urls import path

from resources import views

app_name = "resources"

urlpatterns = [
    path("checks/", views.plan_checks, name="checks"),
    path("eliminations/", views.elimination_list, name="eliminations"),
    path("households/<int:pk>/", views.household_page, name="household"),
    path("households/<int:pk>/measures/add/", views.measure_add, name="measure_add"),
    path("households/<int:pk>/measures/<int:measure_pk>/edit/", views.measure_edit, name="measure_edit"),
    path("households/<int:pk>/measures/<int:measure_pk>/remove/", views.measure_remove, name="measure_remove"),
    path("households/<int:pk>/observe/", views.observe, name="observe"),
    path("households/<int:pk>/elimination/apply/", views.elimination_apply, name="elimination_apply"),
    path(
        "households/<int:pk>/elimination/<int:case_pk>/township/", views.elimination_township,
        name="elimination_township",
    ),
    path(
        "households/<int:pk>/elimination/<int:case_pk>/county/", views.elimination_county,
        name="elimination_county",
    ),
]
