"""What happens when something needs a person: a plugin paused (credentials refused) or a delivery dead.

One place records it, logs it at error with the command that fixes it, and alerts the branch's `alerts`
targets at most once per problem per day. Targets are webhook URLs (a JSON POST with a French `text`, which
Mattermost, Slack, Rocket.Chat and most chat tools accept) or e-mail addresses, mailed through the branch's
mail channel like any message (a webhook is the sturdier target: it does not depend on a plugin that may be
the one in trouble).
An alert that cannot be sent is logged and never stops the work that raised it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from hub import hints
from hub.logs import redact
from hub.store import Store

log = logging.getLogger("hub.incidents")
ALERT_PERIOD = 24 * 3600.0
ALERT_TIMEOUT = 5.0
StaffMail = Callable[[str, str, str, str, str], bool]
"""(branch, address, problem key, what is wrong, the fix) -> planned through the branch's mail channel?"""


class Incidents:
    def __init__(self, store: Store, alert_targets: Mapping[str, Sequence[str]], clock: Callable[[], datetime],
                 *, send: Callable[[str, dict[str, str]], None] | None = None, mail: StaffMail | None = None) -> None:
        self._mail = mail
        self.store = store
        self.targets = alert_targets
        self.clock = clock
        self._send = send or _post_json

    def plugin_paused(self, branch: str, plugin: str, exc: Exception, now: datetime) -> str:
        """Pause the plugin for the branch (exc: a PluginAuthFailed, whose `fix` is kept); returns the reason."""
        reason = redact(str(exc))
        fix = hints.after_auth_failure(branch, plugin, getattr(exc, "fix", None))
        new = self.store.pause(branch, plugin, reason, now, fix=fix)
        if new:
            log.error("plugin paused: credentials refused", extra={"branch": branch, "plugin": plugin,
                                                                    "reason": reason, "fix": fix})
        self.alert(branch, plugin, "paused", f"{plugin} est en pause : {reason}", fix)
        return reason

    def delivery_dead(self, branch: str, plugin: str, event_id: str, error: str) -> None:
        fix = hints.after_dead_letters(branch, plugin)
        log.error("delivery dead", extra={"branch": branch, "plugin": plugin, "event": event_id,
                                          "error": redact(error), "fix": fix})
        self.alert(branch, plugin, "dead", f"une transmission vers {plugin} a échoué définitivement "
                                           f"({redact(error)})", fix)

    def address_bounced(self, branch: str, candidate_id: str | None) -> None:
        who = f"la personne {candidate_id}" if candidate_id else "une personne"
        self.alert(branch, "messages", f"bounce:{candidate_id}", f"l'adresse e-mail de {who} ne fonctionne plus "
                   "(un mail est revenu en erreur) : plus aucun mail ne lui part",
                   "corrigez l'adresse dans le formulaire ou le tableau de suivi")

    def needs_call(self, branch: str, count: int) -> None:
        self.alert(branch, "messages", "needs_call", f"{count} personne(s) inscrite(s) n'ont toujours pas pris "
                   "rendez-vous", f"appelez-les (liste : hub events --branch {branch} --kind candidate_registered)")

    def alert(self, branch: str, plugin: str, kind: str, text: str, fix: str) -> None:
        targets = [t for t in self.targets.get(branch, ()) if t]
        if not targets or not self.store.claim_alert(branch, f"{plugin}:{kind}", self.clock(), ALERT_PERIOD):
            return
        body = {"branch": branch, "plugin": plugin, "problem": kind, "fix": fix,
                "text": f"[cravate-hub · {branch}] {text}. À faire : {fix}"}
        for target in targets:
            if "@" in target and not target.startswith(("http://", "https://")):
                if self._mail is None or not self._mail(branch, target, f"{plugin}:{kind}", text, fix):
                    log.warning("alert not sent: e-mail alerts need a mail channel plugin (Gmail or Outlook)",
                                extra={"branch": branch, "plugin": plugin})
                continue
            try:
                self._send(target, body)
            except Exception as exc:  # an alert must never break the delivery or poll that raised it
                log.warning("alert not sent", extra={"branch": branch, "plugin": plugin,
                                                     "error": f"{type(exc).__name__}: {redact(str(exc))}"})


def _post_json(url: str, body: dict[str, str]) -> None:
    import httpx

    response = httpx.post(url, json=body, timeout=ALERT_TIMEOUT)
    response.raise_for_status()
