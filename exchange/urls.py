from django.urls import path

from exchange import views

app_name = "exchange"

urlpatterns = [
    path("", views.batch_list, name="batches"),
    path("upload/", views.upload, name="upload"),
    path("batches/<int:pk>/", views.batch_detail, name="batch"),
    path("batches/<int:pk>/progress/", views.batch_progress, name="batch_progress"),
    path("batches/<int:pk>/rejected.xlsx", views.rejected_download, name="rejected_download"),
    path("linkage/", views.linkage_review, name="linkage"),
    path("linkage/refresh/", views.linkage_refresh, name="linkage_refresh"),
    path("linkage/candidates/<int:pk>/confirm/", views.confirm, name="confirm"),
    path("linkage/candidates/<int:pk>/dismiss/", views.dismiss, name="dismiss"),
    path("quality/", views.quality_issues, name="quality"),
]
