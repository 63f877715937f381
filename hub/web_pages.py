"""What every page the hub shows to people (follow-up answers, the live overview) shares: the look of a plain,
readable page on a cheap phone, and the headers of a private page reached by a secret link."""

from __future__ import annotations

__all__ = ["BASE_STYLE", "NBSP", "TAIL_STYLE", "private_headers"]

NBSP = "\u00a0"  # French spacing: never a line break before ? or :
BASE_STYLE = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;font-size:1.05rem;"
    "line-height:1.5;color:#1a1a1a;background:#fff;margin:0}"
    "main{max-width:34rem;margin:0 auto;padding:1rem}"
    "h1{font-size:1.45rem;line-height:1.25;margin:.5rem 0 1rem}"
    ".from{color:#595959;margin:0;font-size:.95rem}"
)
"""Text and borders at a contrast of at least 4.5:1 on white."""
TAIL_STYLE = (
    ".note{color:#595959;font-size:.95rem}"
    ".error{border-left:4px solid #a4000f;padding:.3rem .75rem;color:#a4000f;font-weight:600}"
    "a{color:#1a3a5c}"
)


def private_headers(csp: str) -> dict[str, str]:
    """Never cached, indexed, framed or sniffed, and the secret address never sent on to another site."""
    return {
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Robots-Tag": "noindex, nofollow",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": csp,
    }
