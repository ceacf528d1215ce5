"""/history/: every indexed job (the list, its CSV) and the activity charts of the list's jobs."""

from django.urls import path

from history import views

app_name = "history"

urlpatterns = [
    path("", views.history, name="jobs"),
    path("export.csv", views.history_export, name="export"),
    path("activity/", views.history_activity, name="activity"),
]
