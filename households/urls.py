from django.urls import path

from households import views

app_name = "households"

urlpatterns = [
    path("", views.household_list, name="list"),
    path("export/", views.export, name="export"),
    path("import/", views.import_upload, name="import"),
    path("import/confirm/", views.import_confirm, name="import_confirm"),
    path("<int:pk>/", views.household_detail, name="detail"),
    path("<int:pk>/edit/", views.household_edit, name="edit"),
    path("<int:pk>/reveal/", views.reveal, name="reveal"),
    path("<int:pk>/members/add/", views.member_add, name="member_add"),
    path("<int:pk>/members/<int:person_pk>/edit/", views.member_edit, name="member_edit"),
    path("<int:pk>/members/<int:person_pk>/remove/", views.member_remove, name="member_remove"),
    path("<int:pk>/income/add/", views.income_edit, name="income_add"),
    path("<int:pk>/income/<int:year>/edit/", views.income_edit, name="income_edit"),
]
