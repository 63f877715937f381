"""Rendering a message: a Jinja2 template written as a coordinator writes a mail, in French, with dates and
times in the branch's zone (Babel, not hand-written month names).

A template is plain text: its first line is `Objet : ...` (the subject), the rest is the body. The HTML part
is made from the text (paragraphs, links), so a branch overriding a template writes one file. Lookup order:
`<config>/branches/<branch>/templates/<purpose>.txt.j2`, then `<config>/templates/<purpose>.txt.j2` (the whole
network), then the defaults shipped in hub/messages/templates. A variable a template uses that does not exist
is an error (StrictUndefined), reported by `hub config check`, never a blank in a mail.

An SMS is written from `<purpose>.sms.j2`, found in the same folders: plain text, no subject line, short
(under 160 characters where the facts allow), its lines trimmed and blank lines dropped.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from babel.dates import format_date, format_time, format_timedelta

from hub.config import BranchConfig
from hub.events import Candidate, Outcome, Session

__all__ = ["LOCALE", "Rendered", "Renderer", "TemplateProblem", "facts", "sample_facts", "template_name"]

LOCALE = "fr_FR"
SUBJECT = re.compile(r"^\s*Objet\s*:\s*(?P<subject>.+?)\s*$")
URL = re.compile(r"https?://[^\s<>\"]+")
DEFAULTS = Path(__file__).parent / "templates"


class TemplateProblem(Exception):
    """A template that cannot be rendered: its file and what is wrong, for `hub config check`."""

    def __init__(self, template: str, message: str) -> None:
        super().__init__(f"{template}: {message}")
        self.template = template
        self.message = message


@dataclass(frozen=True)
class Rendered:
    subject: str  # "" for an SMS
    text: str
    html: str | None  # None for an SMS


def template_name(purpose: str, medium: str = "email") -> str:
    """`<purpose>.txt.j2` for a mail, `<purpose>.<medium>.j2` for another medium (`reminder.sms.j2`)."""
    return f"{purpose}.txt.j2" if medium == "email" else f"{purpose}.{medium}.j2"


class Renderer:
    """The templates of one branch (its overrides, the network's, the defaults)."""

    def __init__(self, config_root: Path, branch: str) -> None:
        self.folders = [config_root / "branches" / branch / "templates", config_root / "templates", DEFAULTS]
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader([str(f) for f in self.folders]),
                                      undefined=jinja2.StrictUndefined, autoescape=False, lstrip_blocks=True)
        self.env.filters["de"] = elide

    def source_of(self, purpose: str, medium: str = "email") -> Path:
        """The file a purpose is rendered from for `medium` (an override, or the default)."""
        name = template_name(purpose, medium)
        return next((f / name for f in self.folders if (f / name).is_file()), DEFAULTS / name)

    def overrides(self) -> list[Path]:
        """The branch's and the network's template files, mails (`.txt.j2`) and SMS (`.sms.j2`)."""
        return [p for folder in self.folders[:2] if folder.is_dir()
                for pattern in ("*.txt.j2", "*.sms.j2") for p in sorted(folder.glob(pattern))]

    def render(self, purpose: str, values: dict[str, Any], medium: str = "email") -> Rendered:
        name = template_name(purpose, medium)
        try:
            raw = self.env.get_template(name).render(**values)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateProblem(exc.filename or name, f"line {exc.lineno}: {exc.message}") from None
        except jinja2.UndefinedError as exc:
            known = ", ".join(sorted(values))
            raise TemplateProblem(str(self.source_of(purpose, medium)), f"{exc.message} (known: {known})") from None
        except jinja2.TemplateNotFound as exc:
            raise TemplateProblem(name, f"template {exc.name} not found") from None
        if medium != "email":
            text = "\n".join(line.strip() for line in raw.split("\n") if line.strip())
            return Rendered(subject="", text=text, html=None)
        return split(str(self.source_of(purpose)), raw)


def split(template: str, raw: str) -> Rendered:
    """Subject from the `Objet :` line; body text with runs of blank lines folded; HTML made from the text."""
    first, _, body = raw.lstrip("\n").partition("\n")
    match = SUBJECT.match(first)
    if match is None:
        raise TemplateProblem(template, "the first line must be the subject: Objet : ...")
    lines = [line.rstrip() for line in body.split("\n")]  # a line holding only a tag leaves a blank line
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"
    return Rendered(subject=match.group("subject"), text=text, html=to_html(text))


def elide(name: str) -> str:
    """French elision for "de": "d'Aïcha", "de Jérôme" (templates: `{{ prenom|de }}`)."""
    return f"d'{name}" if name[:1].casefold() in "aàâäeéèêëiîïoôöuùûüyh" else f"de {name}"


def to_html(text: str) -> str:
    paragraphs = []
    for block in text.strip().split("\n\n"):
        lines = [URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', html.escape(line, quote=False))
                 for line in block.split("\n")]
        paragraphs.append("<p>" + "<br>\n".join(lines) + "</p>")
    body = "\n".join(paragraphs)
    return ('<!DOCTYPE html>\n<html lang="fr"><head><meta charset="utf-8"></head>\n'
            f'<body style="font-family: Arial, sans-serif; font-size: 16px; line-height: 1.5; color: #222">\n'
            f"{body}\n</body></html>\n")


# --- the values templates use ------------------------------------------------------------------------------

def facts(branch: BranchConfig, zone: ZoneInfo, *, candidate: Candidate | None, session: Session | None = None,
          previous: Session | None = None, outcome: Outcome | None = None, due_offset: str | None = None,
          due_at: datetime | None = None, booking_link: str | None = None,
          optout_link: str | None = None, followup_link: str | None = None) -> dict[str, Any]:
    """Every variable a template may use (always all of them, None when unknown), in French."""
    settings = branch.messages
    programme = branch.programmes.get(session.programme) if session and session.programme else None
    referrer = candidate.referrer if candidate else None
    values: dict[str, Any] = {
        "antenne": branch.name,
        "prenom": (candidate.first_name if candidate else None) or "",
        "nom": (candidate.last_name if candidate else None) or "",
        "telephone": settings.phone,
        "signature": settings.signature or f"L'équipe de {branch.name}",
        "quoi_apporter": settings.what_to_bring,
        "lien_rdv": booking_link,
        "lien_desinscription": optout_link,
        "lien_suivi": followup_link,  # the follow-up mail's one-click answer page (hub.followup)
        "referent": referrer.contact_name if referrer else None,
        "structure": referrer.structure if referrer else None,
        "date": None, "heure": None, "date_courte": None, "heure_courte": None,  # the short ones: SMS
        "lieu": None, "visio": None, "programme": None, "module": None,
        "ancien_date": None, "ancien_heure": None, "quand": None, "quand_court": None, "depuis": None,
        "resultat": None, "present": None, "probleme": None, "a_faire": None, "branche": branch.id,
        "lien_connexion": None, "validite": None, "tableau": None,  # a /tableau login link (hub.report.live)
        "periode": None, "titre": None, "perimetre": None, "chiffres": None, "piece_jointe": None,
        "diffusion": None, "reglage": None,  # the monthly report mail (hub.report.monthly)
    }
    if session is not None:
        values.update(date=french_date(session.start, zone), heure=french_time(session.start, zone),
                      date_courte=short_date(session.start, zone), heure_courte=short_time(session.start, zone),
                      lieu=session.location or settings.address, visio=session.video_link,
                      programme=programme.label if programme else session.programme, module=session.module)
    if previous is not None:
        values.update(ancien_date=french_date(previous.start, zone), ancien_heure=french_time(previous.start, zone))
    if session is not None and due_at is not None:
        values["quand"] = when_from(due_at, session.start, zone)
        values["quand_court"] = when_from(due_at, session.start, zone, short=True)
        values["depuis"] = format_timedelta(due_at - session.start, locale=LOCALE, threshold=1.1) \
            if due_at > session.start else None
        if values["depuis"]:
            values["depuis"] = f"il y a {values['depuis']}"
    if outcome is not None:
        values["resultat"] = outcome.label or outcome.category.value.replace("_", " ")
        values["present"] = outcome.category.value == "present"
    if due_offset is not None and values["quand"] is None:
        values["quand"] = values["quand_court"] = due_offset
    return values


def french_date(when: datetime, zone: ZoneInfo) -> str:
    """"mardi 8 décembre", in the branch's zone (sessions are weeks away at most: no year, as staff write)."""
    local = when.astimezone(zone)
    return format_date(local.date(), "EEEE d MMMM", locale=LOCALE)


def french_time(when: datetime, zone: ZoneInfo) -> str:
    return format_time(when, "H'h'mm", tzinfo=zone, locale=LOCALE)


def short_date(when: datetime, zone: ZoneInfo) -> str:
    """"lundi 7 déc.", as an SMS says it."""
    return format_date(when.astimezone(zone).date(), "EEEE d MMM", locale=LOCALE)


def short_time(when: datetime, zone: ZoneInfo) -> str:
    """"14h" on the hour, "14h30" otherwise, as an SMS says it."""
    local = when.astimezone(zone)
    return f"{local.hour}h" if local.minute == 0 else f"{local.hour}h{local.minute:02d}"


def when_from(now: datetime, start: datetime, zone: ZoneInfo, *, short: bool = False) -> str:
    """"aujourd'hui", "demain" or "le mardi 8 décembre" ("le mardi 8 déc." when `short`), as said on the day
    the reminder goes out."""
    days = (start.astimezone(zone).date() - now.astimezone(zone).date()).days
    if days == 0:
        return "aujourd'hui"
    if days == 1:
        return "demain"
    return "le " + (short_date(start, zone) if short else french_date(start, zone))


def sample_facts(branch: BranchConfig, zone: ZoneInfo, now: datetime, purpose: str) -> dict[str, Any]:
    """Made-up values for `hub messages preview` and for checking a branch's overrides."""
    from hub.events import OutcomeCategory, Referrer
    from hub.messages.purposes import BY_KEY

    candidate = Candidate(id="cnd_exemple", first_name="Aïcha", last_name="Benali", email="aicha@exemple.invalid",
                          consent=True, referrer=Referrer(structure="Mission locale de Lyon", kind="mission_locale",
                                                          contact_name="Mme Durand"))
    start = (now + timedelta(days=3)).astimezone(zone).replace(hour=14, minute=0, second=0, microsecond=0)
    programme = next(iter(branch.programmes), None)
    session = Session(id="ses_exemple", start=start, end=start + timedelta(hours=3), programme=programme,
                      location=branch.messages.address)
    previous = Session(id="ses_avant", start=start - timedelta(days=1), programme=programme)
    due_at = start - timedelta(hours=48) if purpose == "reminder" else start + timedelta(days=91)
    outcome = Outcome(category=OutcomeCategory.PRESENT if purpose == "referrer_attended"
                      else OutcomeCategory.EMPLOI_DURABLE, label=None if purpose == "referrer_attended" else "CDI",
                      observed_at=start)
    link = (branch.messages.booking_url or "https://calendly.com/votre-antenne/rendez-vous") + \
        "?utm_content=cnd_exemple"
    values = facts(branch, zone, candidate=candidate, session=session, previous=previous, outcome=outcome,
                   due_at=due_at if purpose in ("reminder", "followup") else None, booking_link=link,
                   optout_link="https://hub.votre-antenne.org/desinscription/exemple"
                   if BY_KEY[purpose].recipient == "candidate" else None,
                   followup_link="https://hub.votre-antenne.org/suivi/exemple" if purpose == "followup" else None)
    return {**values, "probleme": "gsheets est en pause : jeton refusé (401)",
            "a_faire": f"hub auth google --branch {branch.id}, then hub retry --branch {branch.id} --plugin gsheets",
            "lien_connexion": "https://hub.votre-antenne.org/tableau/entree/exemple", "validite": "15 minutes",
            "tableau": branch.name, "periode": "janvier 2027", "titre": branch.name, "perimetre": branch.name,
            "chiffres": "- Personnes inscrites : 12\n- Rendez-vous prévus : 15\n- Rendez-vous honorés : 11\n"
                        "- Absences : 2\n- Taux d'absence : 15,4 %",
            "piece_jointe": f"rapport-{branch.id}-2027-01-01-2027-01-31.html",
            "diffusion": "Ces chiffres comptent tout le monde, petits effectifs compris : ils sont réservés à "
                         "l'équipe de l'antenne, ne les diffusez pas (la version diffusable : hub report).",
            "reglage": f"[report] recipients dans le fichier de l'antenne {branch.id}"}
