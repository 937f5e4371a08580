from django.urls import path

from portal import registration, views

app_name = "portal"

urlpatterns = [
    path("", views.sign_in, name="sign_in"),
    path("lien/<str:token>/", views.link, name="link"),
    path("sortie/", views.sign_out, name="sign_out"),
    path("situation/", views.situation, name="overview"),
    path("signaler/", views.report, name="report"),
    path("signaler/recu/", views.reported, name="reported"),
    path("preferences/", views.preferences, name="preferences"),
    path("donnees/", views.data, name="data"),
    path("donnees/mes-donnees.json", views.data_json, name="data_json"),
    path("donnees/effacer/", views.erase, name="erase"),
    path("mandat/", views.mandate, name="mandate"),
    path("mandat/revoquer/", views.mandate_revoke, name="mandate_revoke"),
    path("mandat/accord/", views.consent, name="consent"),
    path("portal.js", views.script, name="script"),
    path("empreintes/", registration.fingerprints, name="fingerprints"),
    path("empreintes/envoyer/", registration.fingerprints_submit, name="fingerprints_submit"),
    path("empreintes/<str:name>", registration.script, name="fingerprints_script"),
]
