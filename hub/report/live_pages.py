"""The small French pages around the live overview (/tableau): the login form, "check your mail", the link's
button, a refused link; and the banner the overview carries above the report (who is connected, the period,
logging out).

Same rules as the people's pages (hub.followup.page): no script, nothing fetched from elsewhere, `lang="fr"`, one
`<h1>`, a `<label for>` on every field, a visible focus ring, text at a contrast of at least 4.5:1 (#1a1a1a on
white 17:1, #595959 7:1, white on #1a3a5c 11:1, the focus ring #8a3b00 7:1).
"""

from __future__ import annotations

import html
from datetime import date

from hub.web_pages import BASE_STYLE, NBSP, TAIL_STYLE, private_headers

__all__ = ["COOKIE_HEADERS", "HEADERS", "banner", "entry_page", "login_page", "message_page", "sent_page"]

BRAND = "La Cravate Solidaire"
STYLE = BASE_STYLE + (
    "label{display:block;font-weight:600;margin:1rem 0 .3rem}"
    "input{box-sizing:border-box;width:100%;font:inherit;padding:.6rem;border:1px solid #767676;"
    "border-radius:.4rem}"
    "button{font:inherit;font-weight:600;width:100%;margin-top:1rem;padding:.8rem 1rem;border:0;"
    "border-radius:.5rem;background:#1a3a5c;color:#fff;cursor:pointer}"
    "input:focus-visible,button:focus-visible,a:focus-visible{outline:3px solid #8a3b00;outline-offset:2px}"
) + TAIL_STYLE
_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'")
HEADERS = private_headers(_CSP)  # inline styles and SVG only (the charts): no script, nothing from elsewhere
COOKIE_HEADERS = {**HEADERS, "Vary": "Cookie"}


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="fr"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex, nofollow">'
        f"<title>{html.escape(title)} – Tableau de bord</title><style>{STYLE}</style></head>\n"
        f'<body><main><p class="from">{BRAND} · tableau de bord</p>\n{body}\n</main></body></html>\n')


def login_page(life: str, *, note: str | None = None, error: str | None = None) -> str:
    """The form: one address, and a link is mailed to it if it is on the access list."""
    said = f'<p role="status">{html.escape(note)}</p>\n' if note else ""
    alert = f'<p class="error" role="alert">{html.escape(error)}</p>\n' if error else ""
    body = (
        "<h1>Tableau de bord</h1>\n"
        f"{said}<p>Les chiffres clés de votre antenne, ou du réseau, à jour. Pas de mot de passe{NBSP}: "
        f"indiquez votre adresse e-mail, nous vous envoyons un lien de connexion valable {html.escape(life)}.</p>\n"
        f'{alert}<form method="post" action="/tableau/connexion">\n'
        '<label for="adresse">Votre adresse e-mail</label>\n'
        '<input type="email" id="adresse" name="adresse" required maxlength="254" autocomplete="email" '
        'spellcheck="false">\n'
        '<button type="submit">Recevoir un lien de connexion</button>\n</form>\n'
        '<p class="note">Seules les adresses que votre antenne ou la coordination du réseau a déclarées '
        "reçoivent un lien.</p>")
    return _page("Recevoir un lien de connexion", body)


def sent_page(life: str) -> str:
    """The one answer to a request for a link, whether the address is on the list or not."""
    body = (
        "<h1>Vérifiez votre messagerie</h1>\n"
        "<p>Si cette adresse est autorisée, un lien vient de lui être envoyé. Il est valable "
        f"{html.escape(life)} et ne sert qu'une fois.</p>\n"
        f"<p class=\"note\">Rien reçu d'ici quelques minutes{NBSP}? Regardez dans les indésirables, vérifiez "
        "l'adresse, ou demandez à votre antenne de l'ajouter à la liste.</p>\n"
        '<p><a href="/tableau">Demander un autre lien</a></p>')
    return _page("Vérifiez votre messagerie", body)


def entry_page(session_life: str) -> str:
    """A genuine link, opened: one button uses it (a mail scanner following links must not spend it)."""
    body = (
        "<h1>Ouvrir le tableau de bord</h1>\n"
        f"<p>Ce lien ne sert qu'une fois{NBSP}: appuyez sur le bouton pour ouvrir votre session. Elle dure "
        f"{html.escape(session_life)}, sur cet appareil seulement.</p>\n"
        '<form method="post"><button type="submit">Ouvrir le tableau de bord</button></form>')
    return _page("Ouvrir le tableau de bord", body)


def message_page(title: str, text: str, *, again: bool = True) -> str:
    """A short page for what cannot be done (a spent link, too many tries...)."""
    link = '\n<p><a href="/tableau">Demander un nouveau lien</a></p>' if again else ""
    return _page(title, f"<h1>{html.escape(title)}</h1>\n<p>{html.escape(text)}</p>{link}")


BANNER_STYLE = (
    ".tableau-session{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;font-size:.95rem;"
    "color:#1a1a1a;background:#f2f5f8;border-bottom:1px solid #767676;padding:.6rem 1rem;"
    "display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:flex-end;justify-content:space-between}"
    ".tableau-session p{margin:0}"
    ".tableau-session .view{color:#1a1a1a}"
    ".tableau-session .error{color:#a4000f;font-weight:600;width:100%}"
    ".tableau-session form{display:flex;flex-wrap:wrap;gap:.4rem;align-items:flex-end;margin:0}"
    ".tableau-session label{display:block;font-size:.85rem;font-weight:600}"
    ".tableau-session input{font:inherit;padding:.3rem .4rem;border:1px solid #767676;border-radius:.3rem;"
    "background:#fff;color:#1a1a1a}"
    ".tableau-session button{font:inherit;font-weight:600;padding:.35rem .9rem;border:1px solid #1a3a5c;"
    "border-radius:.3rem;background:#1a3a5c;color:#fff;cursor:pointer}"
    ".tableau-session button.quiet{background:#fff;color:#1a3a5c}"
    ".tableau-session input:focus-visible,.tableau-session button:focus-visible"
    "{outline:3px solid #8a3b00;outline-offset:2px}"
    "@media print{.tableau-session form{display:none}}"
)


def banner(who: str, raw: bool, start: date, last: date, *, error: str | None = None) -> str:
    """What the overview shows above the report: who is connected and which view, the period (a form that
    changes it), and the logout button. `last` is the period's last day, included."""
    view = ("Chiffres bruts, tous les effectifs : réservés à l'équipe de l'antenne, à ne pas diffuser." if raw
            else "Petits effectifs masqués, comme dans tout ce qui sort d'une antenne.")
    alert = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return (
        f'<style>{BANNER_STYLE}</style>\n'
        '<section class="tableau-session" aria-label="Votre session">\n'
        f"<div><p>Connecté(e){NBSP}: <strong>{html.escape(who)}</strong></p>"
        f'<p class="view">{html.escape(view).replace(" : ", f"{NBSP}: ")}</p></div>\n'
        '<form method="get" action="/tableau" aria-label="Période">'
        f'<div><label for="du">Du</label><input type="date" id="du" name="du" value="{start.isoformat()}" '
        'required></div>'
        f'<div><label for="au">Au (inclus)</label><input type="date" id="au" name="au" '
        f'value="{last.isoformat()}" required></div>'
        '<button type="submit">Afficher</button></form>\n'
        '<form method="post" action="/tableau/sortie"><button type="submit" class="quiet">Se déconnecter</button>'
        f"</form>\n{alert}</section>\n")
