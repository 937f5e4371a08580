from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import include, path

from portal.views import email_preferences
from takedowns.access import AdminLoginForm, LoginForm

admin.site.site_header = "Bodyguard — SOS Cyber-harcèlement"
admin.site.site_title = "Bodyguard"
# The admin's own sign-in page gets the same brute-force lock-out as ours.
admin.site.login_form = AdminLoginForm


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Reviewers land on their queue, staff on the client register."""
    return redirect("/review/" if request.user.has_perm("takedowns.review_hits") else "/admin/")


urlpatterns = [
    path("", home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="takedowns/login.html",
            authentication_form=LoginForm,
            redirect_authenticated_user=True,
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    # The link in every alert email: her preferences, in the victim space's pages.
    path("preferences/<str:token>/", email_preferences, name="preferences"),
    path("admin/", admin.site.urls),
    path("review/", include("takedowns.urls")),
    path("espace/", include("portal.urls")),
]
