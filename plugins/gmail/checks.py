"""`hub doctor` for Gmail: the token works, the mailbox and the sender agree, and the consent screen fits the
account (restricted scopes: reference E2). Messages are for staff, in French; addresses are shown by their
domain only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.sources import Check
from hub_gmail.settings import DAILY_LIMITS

if TYPE_CHECKING:
    from hub_gmail.mailbox import Mailbox

CONSUMER_DOMAINS = {"gmail.com", "googlemail.com"}


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def checks(box: Mailbox) -> list[Check]:
    def mailbox() -> str:
        client = box.client()
        profile = client.profile()
        client.labels()  # needs the read scope the bounces use (users.getProfile alone does not)
        own = str(profile.get("emailAddress", ""))
        note = ""
        sender = box.settings.sender
        if sender and sender.lower() != own.lower():
            note = (f" ; l'adresse d'envoi (…@{domain_of(sender)}) n'est pas celle de la boîte : elle doit être un "
                    "alias « Envoyer des e-mails en tant que » de la boîte, sinon Gmail la remplace")
        return f"boîte …@{domain_of(own)} accessible (envoi et lecture des rebonds){note}"

    def account() -> str:
        own = str(box.client().profile().get("emailAddress", ""))  # the mailbox's, not an alias's
        domain = domain_of(own)
        consumer = domain in CONSUMER_DOMAINS
        kind = box.settings.account
        auth = box.settings.auth
        if consumer and kind != "consumer":
            raise RuntimeError(f"la boîte est un compte Gmail grand public (…@{domain}) : écrivez account = "
                               f"\"consumer\" dans [gmail] (limite d'environ {DAILY_LIMITS['consumer']} envois "
                               "par jour)")
        if auth == "service_account":
            if consumer:
                raise RuntimeError("un compte de service n'agit que pour une boîte Google Workspace (délégation "
                                   "au niveau du domaine) : pour une adresse gmail.com, utilisez auth = \"oauth\"")
            return (f"Google Workspace (…@{domain}), compte de service avec délégation au niveau du domaine : pas "
                    "d'écran de consentement ; la délégation doit accorder les champs gmail.compose et "
                    "gmail.readonly")
        if auth == "static_token":
            return "jeton fixe (bac à sable ou démonstration) : pas d'écran de consentement"
        limit = f"limite de {box.settings.send_limit} envois par 24 h"
        if consumer:
            return (f"compte Gmail grand public ({limit}) : l'application OAuth doit être publiée (« En "
                    "production ») ; en mode « Test », les jetons expirent après 7 jours, et les champs "
                    "d'application restreints (gmail.compose, gmail.readonly) demandent une vérification par "
                    "Google avant publication")
        return (f"Google Workspace (…@{domain}, {limit}) : choisissez le type « Interne » pour l'écran de "
                "consentement OAuth (pas de vérification Google, jetons sans expiration à 7 jours) ; en « Externe » "
                "et en mode « Test », les jetons expirent après 7 jours")

    return [Check("boîte Gmail", mailbox), Check("compte Google et consentement", account)]
