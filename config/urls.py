from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

admin.site.site_header = "Bodyguard — SOS Cyber-harcèlement"
admin.site.site_title = "Bodyguard"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
]
