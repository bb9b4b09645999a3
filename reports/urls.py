from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("performance/", views.report_list, name="list"),
    path("performance/<int:pk>/", views.report_detail, name="detail"),
    path("performance/<int:pk>/progress/", views.report_progress, name="progress"),
    path("performance/<int:pk>/files/<str:name>", views.report_file, name="file"),
    path("exports/", views.export_page, name="exports"),
]
