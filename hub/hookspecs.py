"""Every hook a plugin may implement. The reference for connector authors is docs/plugin-hooks.md.

All hooks are synchronous: the daemon calls them from its own loop (and webhook handlers from a worker
thread), so a plugin uses blocking httpx / google-api-python-client calls and never needs an event loop.

Two families, and one closing hook:
* contribution hooks (`register_*`) receive a `register` callback; the core calls each plugin's
  implementation on its own, so it always knows which plugin contributed what;
* domain-event hooks (past tense) receive the plugin's context `hub` and one frozen `Event`; each plugin's
  implementation is called alone, once per event, by the dispatcher; return values are ignored;
* `close_lane` ends what `register_sources` / `register_webhooks` built for a branch (its clients).
Never rely on the order plugins are called in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

from hub.events import EventKind

if TYPE_CHECKING:
    import click
    from pydantic import BaseModel

    from hub.context import HubContext
    from hub.events import Event
    from hub.privacy.share import DataUse
    from hub.sandbox import Sandbox
    from hub.sources import Check, Poller, WebhookRoute

__all__ = [
    "CONTRIBUTION_HOOKS",
    "EVENT_HOOKS",
    "LANE_HOOKS",
    "PROJECT",
    "candidate_forgotten",
    "candidate_needs_call",
    "candidate_opted_in",
    "candidate_opted_out",
    "candidate_registered",
    "close_lane",
    "followup_due",
    "hookimpl",
    "hookspec",
    "message_bounced",
    "message_due",
    "outcome_recorded",
    "register_checks",
    "register_commands",
    "register_data_uses",
    "register_sandbox",
    "register_settings",
    "register_sources",
    "register_webhooks",
    "session_booked",
    "session_cancelled",
    "session_reminder_due",
]

PROJECT = "cravate_hub"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --- setup -------------------------------------------------------------------------------------------------


@hookspec
def register_settings(register: Callable[[type[BaseModel]], None]) -> None:
    """Declare the pydantic model that validates this plugin's table in a branch file.

    Called once per plugin when the configuration is loaded. Call `register(Model)` with a `BaseModel`
    (use `extra="forbid"`, a description per field, `SecretStr` for secrets). A branch's `[<plugin>]` table
    is validated against it; `hub.settings_as(Model)` is then the validated instance, typed. Without it the
    table must be empty.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add click commands or groups to the `hub` command line (e.g. `hub calendly subscribe`).

    Called once when the CLI starts, after the core's commands. Keep imports inside the command functions so
    `hub --help` stays fast.
    """


# --- contributions, per branch, and their end ---------------------------------------------------------------


@hookspec
def register_sources(hub: HubContext, register: Callable[[Poller], None]) -> None:
    """Contribute pollers that read new facts from the branch's tools.

    Called once per branch where the plugin is enabled, with that branch's context. Call
    `register(Poller(name, poll, interval))`; `poll(cursor)` returns a `PollResult(events, cursor)`. The
    events and the new cursor are committed in one transaction, so a crash never skips or repeats a page.
    """


@hookspec
def register_webhooks(hub: HubContext, register: Callable[[WebhookRoute], None]) -> None:
    """Contribute webhook handlers, mounted at `/webhooks/<branch>/<plugin>[/<path>]`.

    Called once per branch where the plugin is enabled. A handler receives a `WebhookRequest` (raw body
    bytes, lower-cased headers) and returns a `WebhookReply`; the reply's events are committed before the
    HTTP answer is sent. Verify signatures in the handler; answer 401 and return no events when they fail.
    """


@hookspec
def register_checks(hub: HubContext, register: Callable[[Check], None]) -> None:
    """Contribute health checks for `hub doctor` (credentials valid, sheet reachable, webhook active...).

    A check is `Check(name, run)`; `run()` returns a short success message or raises (PluginAuthFailed,
    PluginNotReady or any error, whose message must say what to do).
    """


@hookspec
def close_lane(hub: HubContext) -> None:
    """The lane (this branch and plugin) stops: close the clients built for it (HTTP pools, httplib2 connections).

    Called once per lane that was set up (its `register_sources` and `register_webhooks` succeeded), when the
    hub closes (`hub run` ending, a command or a test closing its hub), after the lane's last poll and
    delivery (a lane still blocked in a request when `hub run` stops is left to the process's exit). `hub` is
    the same context those two hooks received, so a plugin may key what it built on it.
    Each plugin's implementation is called alone; it must not raise: a failure is logged as a warning with
    its exception type and never stops the other plugins' closing. Return values are ignored.
    """


@hookspec
def register_data_uses(register: Callable[[DataUse], None]) -> None:
    """Declare where this plugin puts people's data in its tool, and which fields (`hub.api.DataUse`).

    Call `register(DataUse(where=..., sends=(...), reads=(...), why=..., kept=...))` once per place (a sheet, a
    calendar, a mailbox). The hub then hands the plugin only the fields it `sends` (in events and through
    `hub.candidate()`; a branch may change the list in `[privacy.share]`), and docs/data-map.md is generated from
    these declarations. Register a use with empty `sends` for a tool that receives no personal field (only ids).
    A plugin that declares nothing receives every field but free text (`hub.privacy.share.DEFAULT`).
    """


@hookspec
def register_sandbox(register: Callable[[Sandbox], None]) -> None:
    """Contribute a faithful fake of the plugin's service (see `hub.sandbox.Sandbox`).

    Used by tests, `hub sandbox` and `hub demo`; it must speak the vendor's real wire format on loopback.
    """


# --- domain events -----------------------------------------------------------------------------------------


@hookspec
def candidate_registered(hub: HubContext, event: Event) -> None:
    """A candidate registered (a form answer, or a booking from someone the hub did not know).

    `event.candidate` carries the hub id and every known field. It fires again when another tool registers a
    person the hub already knows (matched by e-mail or phone): the candidate then carries the merged, richer
    data and its first `registered_at`, earlier than `event.occurred_at`; a welcome message should be sent
    once per candidate, not once per event. Called once per plugin per event, with
    `hub.delivery_key` set: use it to make the effect idempotent. Raise PluginNotReady / PluginAuthFailed /
    DeliveryRejected to steer retries; return values are ignored.
    """


@hookspec
def session_booked(hub: HubContext, event: Event) -> None:
    """A session was booked, or rescheduled: then `event.session.replaces` names the session it replaces.

    A reschedule is never also a cancellation: update the old session's effects in place (no cancellation
    mail). `event.candidate` is the full candidate. Same delivery contract as `candidate_registered`.
    """


@hookspec
def session_cancelled(hub: HubContext, event: Event) -> None:
    """A session was cancelled (not rescheduled). Its pending reminders and follow-ups are already dropped.

    Same delivery contract as `candidate_registered`.
    """


@hookspec
def outcome_recorded(hub: HubContext, event: Event) -> None:
    """An outcome was recorded: attendance (present/absent) or what came of the journey (job, training...).

    `event.outcome.category` is already derived from the contract type and length. `recorded_by` is
    `"candidate"` (`hub.events.BY_CANDIDATE`) for the person's own answer on the follow-up page, with `horizon`
    the follow-up it answers ("3 months") and `label` the answer ("En recherche"); anything else is staff's. For
    one person and one horizon a staff entry wins over the person's own answer, and among answers of the same
    kind the latest wins: a sink showing one result per person must not let a person's answer replace staff's
    (the tracking sheet: `hub_gsheets.tracking`). Same delivery contract as `candidate_registered`.
    """


@hookspec
def session_reminder_due(hub: HubContext, event: Event) -> None:
    """A reminder is due before a session (`event.due.offset`, e.g. '48h'). Fired by the hub's schedule.

    Not fired for a session that was cancelled, moved, or has already started. Same delivery contract.
    """


@hookspec
def followup_due(hub: HubContext, event: Event) -> None:
    """A follow-up is due after a session (`event.due.offset`, e.g. '3 months'). Fired by the hub's schedule.

    Same delivery contract as `candidate_registered`.
    """


@hookspec
def message_due(hub: HubContext, event: Event) -> None:
    """A message is to be sent now (channels only): deliver `event.message` through your medium.

    The core planned it, chose the recipient and rendered it (subject, text, HTML, in the branch's language and
    time zone); it already waited for quiet hours and the branch's caps. Only the branch's channel for the
    message's medium (`channels = { email = "gmail" }` in the branch file) receives it. `hub.delivery_key`
    (the same as `event.message.id` plus the plugin) is stable across retries and crashes: make the send
    happen once with it (record what you created before sending; on a repeat, look it up first). A message
    may carry files (`event.message.attachments`: `filename`, `content_type`, `data`; under 3 MB together,
    e.g. the monthly report's page to staff): send them with it, as attachments. Raise
    PluginNotReady(retry_after=...) for a sending limit (it waits, never dead-letters), PluginAuthFailed for
    refused credentials, DeliveryRejected when the service refuses this address for good.
    """


@hookspec
def message_bounced(hub: HubContext, event: Event) -> None:
    """A message did not reach its recipient (`event.bounce`, reported by a channel's source): a mail's bounce,
    or an SMS gateway's "not delivered" report (`Bounce.medium`, `Bounce.permanent`).

    For a permanent e-mail failure the core has already marked the candidate's address as failing: no further
    mail goes to it until it changes. Sinks may show it (the tracking sheet). Same delivery contract as
    `candidate_registered`.
    """


@hookspec
def candidate_needs_call(hub: HubContext, event: Event) -> None:
    """A person registered `needs_call_after` ago ([messages], default 10 days) and booked nothing: someone
    should call them. Fired by the hub once per person; a later `session_booked` for them ends it. Sinks show
    it (the tracking sheet's "Suivi hub" column). Same delivery contract as `candidate_registered`.
    """


@hookspec
def candidate_forgotten(hub: HubContext, event: Event) -> None:
    """Erase what your tool holds about a person: they asked to be forgotten (RGPD art. 17, and art. 19: every
    recipient of their data is told), or the branch's retention period ended (`hub forget`, `hub retention`).

    Delivered to every plugin that received data about the person or was its source. `event.candidate` carries,
    for this delivery only, what the hub knew (names, e-mail, phone); your ids for the person and their sessions
    are still there: `hub.external_id("candidate", event.candidate.id)`, and `hub.sessions_of(event.candidate.id)`
    with `hub.external_id("session", session.id)`. The hub has already erased its own copy and stops sending
    anything about the person. For each thing erased call `hub.erased("what")` (e.g. "ligne du tableau de
    suivi"); for what your tool's API cannot reach call `hub.erasure_manual("what staff must do, where")`: both
    make the receipt staff read in `hub forget --status`. Erase your private state about the person too (what
    you keep under `hub.person_key(...)` is still readable here, and the hub deletes it once every tool is
    done). Same delivery contract as `candidate_registered` (retried; deleting what is already gone counts as
    done).
    """


@hookspec
def candidate_opted_out(hub: HubContext, event: Event) -> None:
    """The person asked for no more messages by one medium (their personal opt-out link in a mail, a STOP reply
    to an SMS, staff at their request): the hub already sends them, by that medium, only what the branch calls
    essential. `event.preference` (`ContactPreference`) says which medium and how (absent on opt-outs stored
    before it: e-mail, by the link). Sinks show it (the tracking sheet's "Suivi hub" column). A channel records
    one with `hub.record_contact_preference(candidate_id, medium, opted_out=True, via=...)`, or returns the
    event from its webhook or poller (`hub.contact_preference(...)` builds it). `event.candidate` carries the
    hub id. Same delivery contract as `candidate_registered`.
    """


@hookspec
def candidate_opted_in(hub: HubContext, event: Event) -> None:
    """The person opted back in to messages by one medium (`event.preference`: which, and how: staff at their
    request, the person on a form, an SMS "START"): the hub sends them that medium's messages again, the latest
    fact per person and medium winning. Sinks clear what they showed for the opt-out. Recorded as
    `candidate_opted_out` is; `event.candidate` carries the hub id. Same delivery contract as
    `candidate_registered`.
    """


EVENT_HOOKS: tuple[str, ...] = tuple(kind.value for kind in EventKind)
"""One hook per event kind, named after it (the hookspecs above document each; a test checks they match)."""
CONTRIBUTION_HOOKS: tuple[str, ...] = (
    "register_settings",
    "register_commands",
    "register_sources",
    "register_webhooks",
    "register_checks",
    "register_data_uses",
    "register_sandbox",
)
LANE_HOOKS: tuple[str, ...] = ("close_lane",)
"""Called by the core for one lane with its context alone (no `register`, no event)."""


