"""The follow-up page's HTML: French, plain words, light enough for a cheap phone on a slow network.

One small inline style sheet (allowed by its hash in the Content-Security-Policy), no script, no image, no
font or anything fetched from elsewhere. Accessible: `lang="fr"`, one `<h1>`, the answers in a `<fieldset>`
with its `<legend>`, a `<label for>` on every input, a visible focus ring, text and borders at a contrast of at
least 4.5:1 on white (#1a1a1a is 17:1, #595959 7:1, the button's white on #1a3a5c 11:1, the focus ring #8a3b00
7:1). It shows the person's first name and nothing else about them: not their current answer either (a
forwarded mail would show it to someone else).
"""

from __future__ import annotations

import base64
import hashlib
import html

from hub.followup.answers import ANSWERS, FREE_WORD_WITH, WORD_LIMIT, Answer
from hub.web_pages import BASE_STYLE, NBSP, TAIL_STYLE, private_headers

__all__ = ["HEADERS", "QUESTION", "STYLE", "form_page", "message_page", "thanks_page"]

STYLE = BASE_STYLE + (
    "fieldset{border:0;margin:0 0 1rem;padding:0}"
    "legend{font-weight:600;margin-bottom:.5rem;padding:0}"
    ".choice{display:flex;align-items:center;gap:.6rem;border:1px solid #767676;border-radius:.5rem;"
    "margin:.45rem 0;padding:0 .75rem;background:#fff}"
    ".choice:focus-within{outline:3px solid #8a3b00;outline-offset:2px}"
    ".choice input{width:1.3rem;height:1.3rem;margin:0;flex:none;accent-color:#1a3a5c}"
    ".choice label{flex:1;padding:.7rem 0;cursor:pointer}"
    ".word label{display:block;margin:.8rem 0 .3rem}"
    ".word input{box-sizing:border-box;width:100%;font:inherit;padding:.6rem;border:1px solid #767676;"
    "border-radius:.4rem}"
    "input:focus-visible,button:focus-visible,a:focus-visible{outline:3px solid #8a3b00;outline-offset:2px}"
    ".choice input:focus-visible{outline:none}"  # the row shows the focus
    "button{font:inherit;font-weight:600;width:100%;padding:.8rem 1rem;border:0;border-radius:.5rem;"
    "background:#1a3a5c;color:#fff;cursor:pointer}"
) + TAIL_STYLE
QUESTION = f"Où en êtes-vous aujourd'hui{NBSP}?"
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
HEADERS = private_headers(f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
                          "frame-ancestors 'none'; base-uri 'none'")  # the token is in the address


def _page(title: str, branch: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="fr"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex, nofollow">'
        f"<title>{html.escape(title)} – {html.escape(branch)}</title><style>{STYLE}</style></head>\n"
        f'<body><main><p class="from">{html.escape(branch)}</p>\n{body}\n</main></body></html>\n')


def form_page(branch: str, first_name: str | None, *, error: str | None = None) -> str:
    """The question. `first_name` from the record (None when there is none)."""
    hello = f"Bonjour {html.escape(first_name)}," if first_name else "Bonjour,"
    choices = []
    for answer in ANSWERS:
        choices.append(
            f'<div class="choice"><input type="radio" id="r-{answer.key}" name="reponse" value="{answer.key}"'
            f'{" required" if answer is ANSWERS[0] else ""}>'
            f'<label for="r-{answer.key}">{html.escape(answer.text)}</label></div>')
        if answer.key in FREE_WORD_WITH:
            choices.append(
                f'<div class="word"><label for="mot">Autre chose{NBSP}: en quelques mots, si vous le souhaitez '
                f'(facultatif)</label><input type="text" id="mot" name="mot" maxlength="{WORD_LIMIT}" '
                'autocomplete="off"></div>')
    alert = f'<p class="error" role="alert">{html.escape(error)}</p>\n' if error else ""
    body = (
        f"<h1>{QUESTION}</h1>\n"
        f"<p>{hello}</p>\n"
        "<p>Nous aimerions savoir ce que vous devenez depuis votre passage chez nous. "
        f"Une seule question{NBSP}: cela nous aide beaucoup.</p>\n"
        f'{alert}<form method="post">\n<fieldset><legend>Votre situation aujourd\'hui</legend>\n'
        + "\n".join(choices) +
        "\n</fieldset>\n<button type=\"submit\">Envoyer ma réponse</button>\n</form>\n"
        '<p class="note">Vous pourrez changer votre réponse plus tard avec le même lien.</p>')
    return _page(QUESTION, branch, body)


def thanks_page(branch: str, answer: Answer, until: str, phone: str | None) -> str:
    """After an answer: thanks, what was understood, and that the same link changes it."""
    call = f" ou appelez-nous au {html.escape(phone).replace(' ', NBSP)}" if phone else ""
    body = (
        "<h1>Merci, c'est noté</h1>\n"
        f"<p>Votre réponse{NBSP}: <strong>{html.escape(answer.label)}</strong>.</p>\n"
        "<p>Si votre situation change, ou si vous vous êtes trompé(e), vous pouvez changer votre réponse avec "
        f'le même lien, jusqu\'au {html.escape(until)}{NBSP}: <a href="">changer ma réponse</a>.</p>\n'
        f"<p>Besoin d'un coup de pouce{NBSP}? Répondez à notre message{call}. Nous sommes toujours là.</p>")
    return _page("Merci, c'est noté", branch, body)


def message_page(title: str, text: str, branch: str | None = None) -> str:
    """A short page for a link that cannot be used (unknown, expired, too many tries...)."""
    return _page(title, branch or "La Cravate Solidaire", f"<h1>{html.escape(title)}</h1>\n<p>{html.escape(text)}</p>")
