"""The object a plugin is handed as `hub`: its branch, its settings, and the few store services it may use.

This is the whole plugin-facing surface of the core besides `hub.events` and `hub.sources`; plugins never
touch the store or the plugin manager directly, so the core can change behind it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, MutableMapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from hub import deferred
from hub.events import Candidate, Event, Session
from hub.privacy.keyed import PSEUDONYM_KEY, KeyedHash
from hub.privacy.share import Share, visible_candidate, visible_session

if TYPE_CHECKING:
    from hub.config import BranchConfig
    from hub.store import Store

__all__ = ["RECONCILE_DAYS", "RESTORED_AT", "Clock", "HubContext", "PluginLog", "SettingsT"]

Clock = Callable[[], datetime]
"""What the hub reads the time from: a callable returning an aware UTC datetime (tests pass a FakeClock)."""
SettingsT = TypeVar("SettingsT", bound=BaseModel)
"""The settings model a plugin registered, so `hub.settings_as(Settings)` is typed without a cast."""


RESTORED_AT = "restored_at"
"""The store's `meta` key `hub restore` sets (ISO date-time, UTC)."""
RECONCILE_DAYS = 7
"""How long after a restore channels and sinks look up before they create: sources re-read from the backup's
cursors within minutes, schedules catch up within a day; a week leaves room for a daemon stopped a while."""


class PluginLog(logging.LoggerAdapter[logging.Logger]):
    """A plugin's logger: the branch and plugin on every line, and the caller's `extra` kept (the standard
    adapter replaces it before Python 3.13's merge_extra)."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        """Merge the branch and plugin into the record's `extra`, keeping what the caller passed."""
        kwargs["extra"] = {**(kwargs.get("extra") or {}), **(self.extra or {})}
        return msg, kwargs


class HubContext:
    """What a plugin is handed as `hub`: one per (branch, plugin), and a fresh one per delivery.

    For a delivery, `delivery_key` is the delivery's stable idempotency key (see the attribute). One delivery
    never runs concurrently with itself: one daemon owns a database (a file lock) and, in it, one worker per
    branch and plugin delivers that pair's deliveries one after the other, so "look up the key, then send" is
    safe.

    Every event about a person carries `event.candidate`: the person's record read just before the delivery,
    holding only the fields this plugin declares with `register_data_uses` (or the branch's `[privacy.share]`);
    `candidate()`, `session()` and `sessions_of()` apply the same filter.

    Private state (`state_get/put/delete`) holds ids, cursors and effect ledgers, never raw contact data (no
    e-mail, phone or name): store the tool's ids, or `pseudonym(value)` when a key must derive from what a
    person typed. State about one person goes under `person_key(candidate_id, name)`: the person's erasure
    deletes it.
    """

    def __init__(self, *, store: Store, branch: BranchConfig, plugin: str, settings: BaseModel | None,
                 state_dir: Path, zone: ZoneInfo, clock: Clock, delivery_key: str | None = None,
                 public_url: str | None = None, fleet: Callable[[], Mapping[str, BranchConfig]] | None = None,
                 default_poll_interval: float = 300.0,
                 wake: Callable[[str, str, str], None] | None = None, share: Share | None = None,
                 ingest: Callable[[str, str, list[Event]], object] | None = None) -> None:
        self._store = store
        self._ingest = ingest
        self._share = share
        self.branch_config = branch
        """The branch's validated configuration (name, programmes and their labels, schedule, messages...)."""
        self.branch = branch.id
        """The branch's id (its file name, e.g. "lyon"): put it in logs and in commands you tell staff to run."""
        self.plugin = plugin
        """This plugin's name (its entry-point name)."""
        self.settings = settings
        """This plugin's validated settings for the branch, or None; read it typed with `settings_as(Model)`."""
        self.state_dir = state_dir
        """The hub's state directory (the database and the secrets live there); prefer `secret_path` for files."""
        self.zone = zone
        """The branch's time zone: show dates to people in it (events carry UTC datetimes)."""
        self._clock = clock
        self.delivery_key = delivery_key
        """During a delivery, its idempotency key, the same at every attempt and after a crash, else None. It is
        `<event id>:<plugin name>`: the event id is `evt_` or `msg_` and 20 lowercase hex digits, so the key is
        25 characters plus the plugin's entry-point name, in ASCII letters, digits, `_`, `:` and what that
        name holds (`evt_0123456789abcdef0123:gmail`). Safe in an HTTP header or a file name."""
        self.public_url = public_url
        """The HTTPS address the outside world reaches the hub's webhooks at (`[webhooks] public_url`), for
        webhook subscriptions and links in messages; None when the hub is not exposed."""
        self._fleet = fleet
        self.default_poll_interval = default_poll_interval
        """Seconds between two polls of a source whose interval is unset and whose branch sets none."""
        self._wake = wake
        self.log = PluginLog(logging.getLogger(f"hub.plugin.{plugin}"), {"branch": branch.id, "plugin": plugin})
        """This plugin's logger (`hub.plugin.<name>`), branch and plugin on every line; log ids, never personal data."""
        self._pending: dict[str, tuple[bool, Any]] | None = None  # during a delivery: key -> (kept, value)
        self._receipts: list[tuple[str, str]] = []  # during a candidate_forgotten delivery: (status, item)
        self._keyed: KeyedHash | None = None

    def for_delivery(self, key: str) -> HubContext:
        """The context one delivery's hook receives: its key, and state writes kept until the dispatcher commits
        them with the delivery's outcome (one fsynced commit, not one per write)."""
        ctx = HubContext(store=self._store, branch=self.branch_config, plugin=self.plugin, settings=self.settings,
                         state_dir=self.state_dir, zone=self.zone, clock=self._clock, delivery_key=key,
                         public_url=self.public_url, fleet=self._fleet,
                         default_poll_interval=self.default_poll_interval, wake=self._wake, share=self._share,
                         ingest=self._ingest)
        ctx._pending = {}
        ctx._keyed = self._keyed
        return ctx

    def fleet(self) -> Mapping[str, BranchConfig]:
        """Every branch's configuration by id, plugin tables validated (`.settings[plugin]`); read-only. For
        checks that span branches, e.g. several branches sharing one vendor account and its quota."""
        return self._fleet() if self._fleet is not None else {self.branch: self.branch_config}

    @property
    def reconciling(self) -> bool:
        """True for `RECONCILE_DAYS` after the database was restored from a backup (`hub restore`): an effect
        made after the backup (a mail sent, an event created) is unknown to the restored state. Before creating
        something for a delivery, look up whether you already made it (by the marker or id derived from
        `delivery_key`), even when your private state has no record of it."""
        restored = self._store.meta_get(RESTORED_AT)
        if not restored:
            return False
        return (self.now() - datetime.fromisoformat(restored)).total_seconds() < RECONCILE_DAYS * 86400

    def poll_soon(self, source: str) -> None:
        """Ask the daemon to poll this plugin's source `source` (its Poller's name) at its next tick (about a
        second) instead of waiting for its interval: for a vendor's change notification that only says "something
        changed, read it". Safe from a webhook handler's thread; without a daemon (a command, a test) it does
        nothing."""
        if self._wake is not None:
            self._wake(self.branch, self.plugin, source)

    def programme_label(self, key: str | None) -> str:
        """The branch's label for the programme `key` (`[programmes.<key>] label` in the branch file, e.g.
        "atelier" -> "Atelier Coup de Pouce"), as staff read it; the key itself when the branch defines no such
        programme, "" for None. `Session.programme` holds the key."""
        programme = self.branch_config.programmes.get(key or "")
        return programme.label if programme is not None else (key or "")

    def programme_modules(self, key: str | None) -> tuple[str, ...]:
        """The modules the branch lists for the programme `key`, in its order (each is its own label, as
        `Session.module` holds it); empty when the programme lists none or is unknown."""
        programme = self.branch_config.programmes.get(key or "")
        return tuple(programme.modules) if programme is not None else ()

    # contact preferences (opted out / back in, per medium)
    def contact_preference(self, candidate_id: str, medium: str, *, opted_out: bool, via: str,
                           at: datetime | None = None) -> Event:
        """The `candidate_opted_out` (or, `opted_out=False`, `candidate_opted_in`) event saying the person
        `candidate_id` chose so for `medium` ("sms", "email"...), `via` how ("sms STOP", "staff"...; no personal
        data), at `at` (default now). Return it from a webhook handler or a poller with your other events; the
        hub stores it once, the message policy follows the latest choice per person and medium, and sinks get
        it."""
        from hub.privacy.optout import preference_event

        return preference_event(candidate_id, medium, opted_out=opted_out, via=via, at=at or self.now())

    def record_contact_preference(self, candidate_id: str, medium: str, *, opted_out: bool, via: str,
                                  at: datetime | None = None) -> Event:
        """Store `contact_preference(...)` now, through the ingest path (its own transaction), from a delivery
        hook or a plugin command; e.g. a channel told by its gateway that the person replied STOP:
        `hub.record_contact_preference(cid, "sms", opted_out=True, via="sms STOP")`. In a webhook handler return
        the event instead (it is then stored with the webhook's other writes)."""
        if deferred.current() is not None:
            raise RuntimeError("in a webhook handler, return hub.contact_preference(...) with the reply's events")
        if self._ingest is None:
            raise RuntimeError("this context cannot store events (no hub behind it)")
        event = self.contact_preference(candidate_id, medium, opted_out=opted_out, via=via, at=at)
        self._ingest(self.branch, self.plugin, [event])
        return event

    def settings_as(self, model: type[SettingsT]) -> SettingsT:
        """This plugin's validated settings, typed as the model it registered (no cast needed):
        `settings = hub.settings_as(Settings)`. A TypeError when the branch has none or another model."""
        if not isinstance(self.settings, model):
            got = "no settings" if self.settings is None else type(self.settings).__name__
            raise TypeError(f"plugin {self.plugin!r} of branch {self.branch!r} has {got}, not {model.__name__}: "
                            "does it register this model with register_settings?")
        return self.settings

    def pseudonym(self, value: str, length: int = 32) -> str:
        """A keyed hash of `value` (HMAC-SHA256 with a key the hub keeps, 0600; hex, `length` characters): the
        same value always gives the same pseudonym in this hub, and nobody without the key can tell which value
        it stands for, even holding a guess. For ids a source derives from what people typed (an e-mail, a
        phone), which would otherwise identify them in the event log after an erasure. Normalise the value first
        (e.g. `hub.api.email_key`)."""
        return self._pseudonyms().hexdigest(value)[:length]

    def _pseudonyms(self) -> KeyedHash:
        if self._keyed is None:
            self._keyed = KeyedHash(self.state_dir / PSEUDONYM_KEY, "la clé des pseudonymes")
        return self._keyed

    def now(self) -> datetime:
        """The hub's clock (tests and the demo move it); always time-zone aware, in UTC."""
        return self._clock()

    # identity links between the hub's ids and this tool's own ids
    def link(self, entity: str, hub_id: str, external_id: str) -> None:
        """Remember that this tool knows `entity` ('candidate' or 'session') `hub_id` as `external_id`."""
        with self._store.transaction():
            self._store.link(self.branch, entity, hub_id, self.plugin, external_id)

    def lookup(self, entity: str, external_id: str) -> str | None:
        """The hub id this tool's `external_id` stands for, if known."""
        return self._store.lookup(self.branch, entity, self.plugin, external_id)

    def external_id(self, entity: str, hub_id: str) -> str | None:
        """This tool's own id for a hub entity (the first one linked), if any."""
        ids = self._store.external_ids(self.branch, entity, hub_id, self.plugin)
        return ids[0] if ids else None

    def candidate(self, hub_id: str) -> Candidate | None:
        """The hub's current picture of a candidate of this branch, with the fields this plugin may copy into its
        tool (what it declares with `register_data_uses`, or the branch's `[privacy.share]`)."""
        body = self._store.get_entity("candidates", hub_id)
        if body is None or self._store.entity_branch("candidates", hub_id) != self.branch:
            return None
        candidate = Candidate.model_validate(body)
        return visible_candidate(candidate, self._fields()) if self._share is not None else candidate

    def sessions_of(self, candidate_id: str) -> list[Session]:
        """The person's sessions in this branch, oldest first (for a sink that must find what it made)."""
        return [self._visible(Session.model_validate(body))
                for body in self._store.sessions_of(self.branch, candidate_id)]

    def session(self, hub_id: str) -> Session | None:
        """The hub's current picture of a session of this branch, None when unknown or another branch's (a free
        cancellation reason only when this plugin may receive it)."""
        body = self._store.get_entity("sessions", hub_id)
        if body is None or self._store.entity_branch("sessions", hub_id) != self.branch:
            return None
        return self._visible(Session.model_validate(body))

    def _fields(self) -> frozenset[str]:
        return self._share.fields(self.branch, self.plugin) if self._share is not None else frozenset()

    def _visible(self, session: Session) -> Session:
        return visible_session(session, self._fields()) if self._share is not None else session

    # durable private state (cursors of sub-resources, effect ledgers, snapshots)
    def state_get(self, key: str, default: Any = None) -> Any:
        """A value this plugin stored for this branch (JSON-serialisable), or `default`. During a delivery it
        sees the delivery's own writes before they are committed."""
        held = deferred.current()
        if self._pending is not None and key in self._pending:
            kept, value = self._pending[key]
        elif held is not None and (self.branch, self.plugin, key) in held.state:
            kept, value = held.state[(self.branch, self.plugin, key)]
        else:
            kept, value = True, self._store.kv_get(self.branch, self.plugin, key)
        return default if not kept or value is None else value

    def state_put(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value. Outside a delivery it is committed at once; during a delivery it is
        committed with the delivery's outcome, after the hook returns or raises (call `checkpoint()` to commit
        earlier, between two steps of an effect that cannot be repeated)."""
        held = deferred.current()
        if self._pending is not None:
            self._pending[key] = (True, value)
        elif held is not None:  # handling a webhook: stored with its events
            held.state[(self.branch, self.plugin, key)] = (True, value)
        else:
            self._store.kv_put(self.branch, self.plugin, key, value)

    def state_delete(self, key: str) -> None:
        """Forget a stored value; committed like `state_put` (with the delivery's outcome during a delivery)."""
        held = deferred.current()
        if self._pending is not None:
            self._pending[key] = (False, None)
        elif held is not None:
            held.state[(self.branch, self.plugin, key)] = (False, None)
        else:
            self._store.kv_delete(self.branch, self.plugin, key)

    def person_key(self, candidate_id: str, name: str) -> str:
        """A private-state key tied to the person `candidate_id` (`person:<id>:<name>`): use it for anything you
        keep about one person (their row, their message ids). When the person is erased, the hub deletes every
        such key of every plugin, once each tool has done its part of the erasure (so your `candidate_forgotten`
        hook can still read it)."""
        from hub.store.rows import person_state_prefix

        return person_state_prefix(candidate_id) + name

    def checkpoint(self) -> None:
        """Commit the state written so far in this delivery now (one transaction)."""
        if self._pending:
            with self._store.transaction():
                self.flush_state()

    @property
    def pending_state(self) -> bool:
        """True when this delivery wrote state (or erasure receipts) not committed yet."""
        return bool(self._pending) or bool(self._receipts)

    def flush_state(self) -> bool:
        """Write the delivery's pending state into the caller's transaction (the dispatcher's); True when
        there was any."""
        if self._receipts and self.delivery_key is not None:
            for status, item in self._receipts:
                self._store.add_erasure_receipt(self.delivery_key, self.plugin, status, item, self.now())
            self._receipts.clear()
        if not self._pending:
            return False
        for key, (kept, value) in self._pending.items():
            if kept:
                self._store.kv_put(self.branch, self.plugin, key, value)
            else:
                self._store.kv_delete(self.branch, self.plugin, key)
        self._pending.clear()
        return True

    # erasure receipts (candidate_forgotten)
    def erased(self, what: str) -> None:
        """During a `candidate_forgotten` delivery: `what` (French, no personal data, e.g. "ligne du tableau de
        suivi") was erased in your tool. Committed with the delivery's outcome."""
        self._receipt("done", what)

    def erasure_manual(self, what_to_do: str) -> None:
        """During a `candidate_forgotten` delivery: what your tool's API cannot erase, said as the step staff must
        take by hand and where (French, no personal data). Shown as a manual item of the receipt."""
        self._receipt("manual", what_to_do)

    def _receipt(self, status: str, item: str) -> None:
        if self._pending is None or self.delivery_key is None:
            raise RuntimeError("erased() and erasure_manual() belong in a candidate_forgotten delivery")
        self._receipts.append((status, item.strip()[:300]))

    # bad input, shown by `hub status` until fixed
    def report_problem(self, ref: str, field: str, message: str) -> None:
        """Record a bad row or payload (e.g. ref='Réponses au formulaire 1!row 12', field='E-mail').

        The message is shown to staff: say what is wrong and what to do; never put personal data in it.
        """
        held = deferred.current()
        if held is not None:  # handling a webhook: stored with its events
            held.report_problem(self.branch, self.plugin, ref, field, message, self.now())
        else:
            self._store.report_problem(self.branch, self.plugin, ref, field, message, self.now())
        self.log.warning("input problem", extra={"ref": ref, "field": field, "problem": message})

    def resolve_problem(self, ref: str) -> None:
        """The row or payload `ref` reads well now: its problem leaves `hub status`."""
        held = deferred.current()
        if held is not None:
            held.resolve_problem(self.branch, self.plugin, ref)
        else:
            self._store.resolve_problem(self.branch, self.plugin, ref)

    def secret_path(self, name: str, namespace: str | None = None) -> Path:
        """Where this plugin keeps a token file for this branch (the directory is created 0700).

        `namespace` lets sibling plugins share one credential (Sheets and Gmail share "google").
        """
        from hub.secrets import make_private_dirs

        folder = self.state_dir / "secrets" / self.branch / (namespace or self.plugin)
        make_private_dirs(folder)  # secrets/ and secrets/<branch>/ too: 0700 all the way
        return folder / name

    def read_secret(self, name: str, namespace: str | None = None, *, fix: str | None = None) -> str | None:
        """The secret file `name` of `secret_path` (trailing newline dropped), None when there is none yet;
        PluginAuthFailed, with `fix`, when other accounts may read it (see hub.secrets.read_secret)."""
        from hub.secrets import read_secret

        return read_secret(self.secret_path(name, namespace), what=f"le fichier secret {name}", fix=fix)

    def write_secret(self, name: str, text: str, namespace: str | None = None) -> None:
        """Replace the secret file `name` of `secret_path` atomically, mode 0600 (hub.secrets.write_secret)."""
        from hub.secrets import write_secret

        write_secret(self.secret_path(name, namespace), text)
