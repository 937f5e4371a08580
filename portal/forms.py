from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from clients.models import Consent, Scope
from portal.reports import MAX_LINKS, address_problem, split_links


class EmailForm(forms.Form):
    email = forms.EmailField(
        label=_("Your email address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "inputmode": "email"}),
    )


class ReportForm(forms.Form):
    links = forms.CharField(
        label=_("The address of the page (one per line)"),
        widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}),
        max_length=MAX_LINKS * 2100,
    )
    note = forms.CharField(
        label=_("A note for our team (optional)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean_links(self) -> list[str]:
        urls = split_links(self.cleaned_data["links"])
        if not urls:
            raise forms.ValidationError(_("Paste the address of at least one page."))
        if len(urls) > MAX_LINKS:
            raise forms.ValidationError(
                _("At most %(n)s addresses at a time, please.") % {"n": MAX_LINKS}
            )
        problems = []
        for url in urls:
            problem = address_problem(url)
            if problem == "not_web":
                problems.append(
                    _("“%(url)s” is not a web address (it should start with https://).")
                    % {"url": url[:200]}
                )
            elif problem == "internal":
                problems.append(_("“%(url)s” does not lead to a public site.") % {"url": url[:200]})
            elif problem == "unreachable":
                problems.append(
                    _("We could not find the site of “%(url)s”: check the address.")
                    % {"url": url[:200]}
                )
        if problems:
            raise forms.ValidationError(problems)
        return urls


class MandateForm(forms.Form):
    full_name = forms.CharField(label=_("Your full name"), max_length=200)
    postal_address = forms.CharField(
        label=_("Your postal address (optional)"), max_length=300, required=False
    )
    scopes = forms.MultipleChoiceField(
        label=_("What you allow us to do in your name"),
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    signature = forms.CharField(
        label=_("Your signature: type your full name again"),
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    agree = forms.BooleanField(
        label=_("I have read this mandate and I give it to SOS Cyber-harcèlement.")
    )

    def clean(self) -> dict:
        cleaned = super().clean() or {}
        name = " ".join((cleaned.get("full_name") or "").split())
        signature = " ".join((cleaned.get("signature") or "").split())
        if name and signature and name.casefold() != signature.casefold():
            self.add_error("signature", _("Type exactly the same full name as above."))
        cleaned["full_name"], cleaned["signature"] = name, signature
        return cleaned


class ConsentForm(forms.Form):
    use = forms.ChoiceField(choices=Consent.Use.choices, widget=forms.HiddenInput)
    given = forms.TypedChoiceField(
        choices=[("1", "1"), ("0", "0")], coerce=lambda v: v == "1", widget=forms.HiddenInput
    )


class ErasureForm(forms.Form):
    confirm = forms.BooleanField(
        label=_(
            "I understand: my file, my photos' fingerprints and everything found about me "
            "will be erased, and the monitoring stops."
        )
    )
