from django.urls import path

from policies import views

app_name = "policies"

urlpatterns = [
    path("", views.policy_list, name="list"),
    path("new/", views.policy_new, name="new"),
    path("<int:pk>/", views.policy_detail, name="detail"),
    path("<int:pk>/edit/", views.policy_edit, name="edit"),
    path("<int:pk>/enable/", views.policy_enable, name="enable"),
    path("<int:pk>/delete/", views.policy_delete, name="delete"),
    path("<int:pk>/preview/", views.policy_preview, name="preview"),
    path("<int:pk>/runs/<int:run_id>/", views.run_detail, name="run"),
    path("<int:pk>/runs/<int:run_id>/act/", views.run_act, name="act"),
]
