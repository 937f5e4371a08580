from django.urls import path

from takedowns import views

app_name = "takedowns"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("hit/<str:hit_id>/", views.hit_page, name="hit"),
    path("hit/<str:hit_id>/reveal/", views.reveal, name="reveal"),
    path("hit/<str:hit_id>/decide/", views.decide, name="decide"),
]
