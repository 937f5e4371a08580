from django.urls import path

from takedowns import case_views, investigate, notice_views, views, workbench_views

app_name = "takedowns"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("bulk/", views.bulk, name="bulk"),
    path("hit/<str:hit_id>/", views.hit_page, name="hit"),
    path("hit/<str:hit_id>/image/", views.hit_image, name="hit_image"),
    path("hit/<str:hit_id>/reveal/", views.reveal, name="reveal"),
    path("hit/<str:hit_id>/decide/", views.decide_view, name="decide"),
    path("hit/<str:hit_id>/allowlist/", views.allowlist_view, name="allowlist"),
    path("client/<slug:reference>/", views.client_page, name="client"),
    path("author/", investigate.author_page, name="author"),
    path("search/", investigate.corpus_search, name="corpus_search"),
    path("cases/", case_views.cases, name="cases"),
    path("case/<int:case_id>/", case_views.case_page, name="case"),
    path("case/<int:case_id>/state/", case_views.transition, name="transition"),
    path("case/<int:case_id>/legal-hold/", case_views.legal_hold, name="legal_hold"),
    path("case/<int:case_id>/notice/", case_views.new_notice, name="new_notice"),
    path("case/<int:case_id>/contact/", case_views.contact, name="contact"),
    path("case/<int:case_id>/export/", case_views.export, name="export"),
    path(
        "case/<int:case_id>/url/<int:case_hit_id>/delisting/",
        case_views.delisting,
        name="delisting",
    ),
    path("case/<int:case_id>/assign/", workbench_views.assign, name="assign"),
    path("case/<int:case_id>/note/", workbench_views.add_note, name="case_note"),
    path("todo/", workbench_views.todo, name="todo"),
    path("statistics/", workbench_views.statistics_page, name="statistics"),
    path("statistics.csv", workbench_views.statistics_csv, name="statistics_csv"),
    path("notice/<int:notice_id>/", case_views.notice_page, name="notice"),
    path("notice/<int:notice_id>/pdf/", case_views.notice_pdf_view, name="notice_pdf"),
    path("notice/<int:notice_id>/send/", case_views.notice_send, name="notice_send"),
    path("notice/<int:notice_id>/response/", notice_views.notice_response, name="notice_response"),
    path("notice/<int:notice_id>/follow-up/", notice_views.follow_up, name="follow_up"),
    path("case/<int:case_id>/pharos/", notice_views.pharos, name="pharos"),
    path("case/<int:case_id>/rdap/", notice_views.rdap_lookup, name="rdap_lookup"),
]
