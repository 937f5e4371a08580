from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import include, path

admin.site.site_header = "Bodyguard — SOS Cyber-harcèlement"
admin.site.site_title = "Bodyguard"


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Reviewers land on their queue, staff on the client register."""
    return redirect("/review/" if request.user.has_perm("takedowns.review_hits") else "/admin/")


urlpatterns = [
    path("", home),
    path("admin/", admin.site.urls),
    path("review/", include("takedowns.urls")),
]
