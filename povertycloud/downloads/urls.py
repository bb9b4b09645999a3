from django.urls import path

from povertycloud.downloads import views

app_name = "downloads"

urlpatterns = [
    path("", views.download_list, name="list"),
    path("<int:pk>/file/", views.download_file, name="file"),
]
