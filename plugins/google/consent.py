"""The installed-app consent flow, usable on a headless server.

Google removed the copy-paste "out of band" flow (google-auth-oauthlib `run_console`, see
https://github.com/googleapis/google-auth-library-python-oauthlib/issues/285), so we print the consent URL
and accept the answer two ways at once: Google's redirect to a loopback port (works when the browser runs on
the same machine, or through `ssh -L <port>:127.0.0.1:<port>`), or the address the browser ends on (an error
page on a headless server), pasted into the terminal.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from google.oauth2.credentials import Credentials


class ConsentError(Exception):
    """Consent refused, answer for another request, or no answer in time: message for the operator."""


def parse_answer(text: str, state: str) -> str:
    """The authorization code from a pasted redirect address (or a bare code)."""
    text = text.strip()
    if not text:
        raise ConsentError("rien n'a été collé")
    if "code=" not in text and "error=" not in text:
        return text
    query = urlsplit(text).query if "://" in text else text.lstrip("?")
    params = parse_qs(query)
    if "error" in params:
        raise ConsentError(f"Google a répondu : {params['error'][0]} (consentement refusé ?)")
    got_state = params.get("state", [state])[0]
    if got_state != state:
        raise ConsentError("cette réponse correspond à une autre demande : relancez la commande")
    code = params.get("code", [""])[0]
    if not code:
        raise ConsentError("aucun code dans l'adresse collée")
    return code


def _loopback(port: int, state: str, answers: queue.Queue[tuple[str, str]]) -> HTTPServer | None:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            try:
                code = parse_answer(self.path, state)
                answers.put(("code", code))
                # the code still has to be exchanged: the terminal says whether that worked
                body, status = "Code reçu : revenez au terminal, qui confirme la connexion du compte.", 200
            except ConsentError as exc:
                answers.put(("error", str(exc)))
                body, status = str(exc), 400
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # the query holds the code: never log it
            return

    try:
        server = HTTPServer(("127.0.0.1", port), Handler)
    except OSError:
        return None
    threading.Thread(target=server.serve_forever, name="oauth-loopback", daemon=True).start()
    return server


def wait_for_code(port: int, state: str, read_line: Callable[[], str] | None, timeout: float | None,
                  echo: Callable[[str], None] = print) -> str:
    """First answer from the loopback redirect or the terminal; raises ConsentError."""
    answers: queue.Queue[tuple[str, str]] = queue.Queue()
    server = _loopback(port, state, answers)
    if server is None:
        echo(f"(port {port} occupé : collez l'adresse de la page finale)")
    if read_line is not None:
        def read() -> None:
            try:
                answers.put(("code", parse_answer(read_line(), state)))
            except ConsentError as exc:
                answers.put(("error", str(exc)))
            except EOFError:
                pass
        threading.Thread(target=read, name="oauth-paste", daemon=True).start()
    try:
        kind, value = answers.get(timeout=timeout)
    except queue.Empty:
        raise ConsentError("pas de réponse à temps : relancez la commande") from None
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
    if kind == "error":
        raise ConsentError(value)
    return value


def run_consent(client_config: dict[str, Any], scopes: list[str], *, port: int, echo: Callable[[str], None],
                read_line: Callable[[], str] | None, timeout: float | None = 900) -> Credentials:
    """Print the consent URL, wait for the answer, exchange the code (PKCE) for a refresh token."""
    from google_auth_oauthlib.flow import Flow

    # Desktop-app clients accept any loopback port without registering it.
    flow = Flow.from_client_config(client_config, scopes=scopes, redirect_uri=f"http://127.0.0.1:{port}/")
    # access_type=offline + prompt=consent: always get a refresh token, even on a second consent.
    url, state = flow.authorization_url(access_type="offline", prompt="consent")
    echo("Ouvrez cette adresse dans un navigateur, connectez-vous avec le compte de l'antenne et acceptez :")
    echo(url)
    echo(f"Ensuite : soit la page s'affiche seule (redirection vers 127.0.0.1:{port}), soit collez ici "
         "l'adresse complète de la page d'erreur où le navigateur arrive, puis Entrée.")
    code = wait_for_code(port, state, read_line, timeout, echo)
    try:
        flow.fetch_token(code=code)
    except Exception as exc:  # oauthlib's OAuth2Error, a network error, a malformed answer: one sentence
        why = getattr(exc, "error", None) or type(exc).__name__
        raise ConsentError(f"Google n'a pas accepté le code ({why}) : le code a peut-être expiré ou servi "
                           "deux fois ; relancez la commande et collez la nouvelle adresse") from None
    return flow.credentials
