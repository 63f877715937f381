"""`hub report`: the key figures of a scripted year of two branches, checked against numbers worked out by hand
from the script (never from the code); the small-count rule; a branch with no data; an erased person still
counted with their sex and age band.

The year (2026, the hub driven day by day with `hub.cycle()`, so reminders, follow-ups and mails really go):

Lyon asks sex and year of birth, mails through a channel, reminds 48 h before. Sessions at 09:00 UTC.
  L0 reg. 2025-12-15 (France Travail, M, 1970): staff books 01-08, present; answers 1 month: alternance.
  L1 reg. 01-05 (france_travail, F, 1998): books 01-12 herself (Calendly), present; answers 1 month: CDD under
     6 months; 3 months: CDI on 04-13, and staff enter "formation" on 04-20 (nearest horizon 3 months: wins).
  L2 reg. 01-06 (structure "Mission Locale de Lyon", M, 2005): books 01-13 himself, absent; staff book 01-27,
     present; staff enter a CDI on 08-01 (nearest 6 months from 01-27: 07-27).
  L3 reg. 01-10 (kind "Pôle emploi", F, 1965): staff book 01-11 (too late for a reminder), absent.
  L4 reg. 02-02 (PLIE, "non-binaire", no year): books 02-16 09:00, moves it on 02-15 (after its reminder) to
     02-16 14:00 (too late for a new one), present; answers 1 month: formation; 6 months: still looking.
  L5 reg. 02-03 (CCAS, M, 1980): books 02-10, cancels on 02-07.
  L6 reg. 03-02 (no referrer, F, 2000): books 03-09, present; answers 1 month: CDD of 6 months or more;
     3 months: CDD under 6 months on 06-10, corrected to CDI on 06-12; erased on 10-01.
  L7 reg. 03-20 (cap emploi, F, 1990): staff book 04-20, present; answers 1 month: CDI on 05-21, staff enter
     "sortie positive" on 05-25 (nearest 1 month: wins).
  L8 reg. 06-01 (Mission locale, M, 1995): books 06-08; attendance never entered.
  L9 reg. 12-20 (another structure, no sex, 2003): books 2027-01-05.
Bordeaux asks neither, has no mail channel (no reminder ever goes).
  B1 reg. 02-10 (structure "France Travail Bordeaux Sud"): staff book 02-17, present; staff enter a CDI 03-20.
  B2 reg. 03-05 (mission_locale): books 03-12 himself, absent; answers 3 months (06-14): formation.
  B3 reg. 04-01 (no referrer): staff book 04-08, cancel it 04-03, book 04-10, present; staff enter "autre"
     on 11-01 (nearest 6 months from 04-10: 10-10).
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hub.app import Hub
from hub.cli import cli
from hub.events import Candidate, ContractType, EventKind, Outcome, OutcomeCategory, Referrer
from hub.report import compute, publishable
from hub.report.commands import default_period
from hub.testing import FakeClock, RecordingChannel, RecordingSink, make_candidate, make_event, make_session

START, END = datetime(2025, 12, 15, 9, tzinfo=UTC), datetime(2027, 1, 15, 9, tzinfo=UTC)


def at(month: int, day: int, hour: int = 9, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


class Year:
    """The script's verbs, each one ingest as the tool concerned would give it."""

    def __init__(self, hub: Hub, clock: FakeClock) -> None:
        self.hub, self.clock = hub, clock
        self.people: dict[str, tuple[str, str]] = {}  # name -> (branch, hub id)
        self.sessions: dict[str, tuple[str, str]] = {}  # name -> (tool's ref, hub id)
        self.plan: dict[date, list[Callable[[], None]]] = {}

    def on(self, when: datetime, action: Callable[[], None]) -> None:
        self.plan.setdefault(when.date(), []).append(action)

    def run(self) -> None:
        day = START
        while day <= END:
            self.clock.now = day
            for action in self.plan.get(day.date(), []):
                action()
            self.hub.cycle()
            day += timedelta(days=1)

    def register(self, branch: str, name: str, *, kind: str | None = None, structure: str | None = None,
                 sex: str | None = None, born: int | None = None) -> None:
        referrer = Referrer(kind=kind, structure=structure) if kind or structure else None
        person = make_candidate(first_name=name, last_name="Testperson", phone=None, sex=sex, birth_year=born,
                                referrer=referrer)
        stored = self.hub.ingest(branch, "carnet", [make_event(EventKind.CANDIDATE_REGISTERED, candidate=person,
                                                               occurred_at=self.clock.now, source_id=f"form:{name}")])
        self.people[name] = (branch, str(stored[0].candidate_id))

    def book(self, name: str, session: str, start: datetime, *, tool: str = "calendly",
             moves: str | None = None) -> None:
        branch, cid = self.people[name]
        ref = f"{tool}:{session}"
        made = make_session(start, ref=ref, replaces_ref=self.sessions[moves][0] if moves else None)
        stored = self.hub.ingest(branch, tool, [make_event(EventKind.SESSION_BOOKED, candidate=Candidate(id=cid),
                                                           session=made, source_id=ref, occurred_at=self.clock.now)])
        booked = next(e for e in stored if e.kind is EventKind.SESSION_BOOKED)
        assert booked.session is not None and booked.session.id
        self.sessions[session] = (ref, booked.session.id)

    def cancel(self, name: str, session: str, start: datetime, *, tool: str) -> None:
        branch, cid = self.people[name]
        ref = self.sessions[session][0]
        self.hub.ingest(branch, tool, [make_event(EventKind.SESSION_CANCELLED, candidate=Candidate(id=cid),
                                                  session=make_session(start, ref=ref), source_id=ref,
                                                  occurred_at=self.clock.now)])

    def attended(self, name: str, session: str, present: bool = True) -> None:
        category = OutcomeCategory.PRESENT if present else OutcomeCategory.ABSENT
        self._outcome(name, "carnet", f"presence:{session}", category=category,
                      session_id=self.sessions[session][1], recorded_by="tableau de suivi")

    def answers(self, name: str, horizon: str, **outcome: Any) -> None:
        """The person's own answer on the follow-up page."""
        self._outcome(name, "hub.suivi", f"suivi:{name}:{horizon}:{self.clock.now:%m%d}", horizon=horizon,
                      recorded_by="candidate", **outcome)

    def staff(self, name: str, **outcome: Any) -> None:
        self._outcome(name, "carnet", f"resultat:{name}:{self.clock.now:%m%d}", recorded_by="tableau de suivi",
                      **outcome)

    def _outcome(self, name: str, tool: str, source_id: str, **fields: Any) -> None:
        branch, cid = self.people[name]
        outcome = Outcome(candidate_id=cid, observed_at=self.clock.now, **fields)
        self.hub.ingest(branch, tool, [make_event(EventKind.OUTCOME_RECORDED, candidate=Candidate(id=cid),
                                                  outcome=outcome, source_id=source_id,
                                                  occurred_at=self.clock.now)])

    def forget(self, name: str) -> None:
        branch, cid = self.people[name]
        self.hub.eraser.forget(branch, cid)


CDI = {"contract_type": ContractType.CDI, "label": "CDI"}
CDD_SHORT = {"contract_type": ContractType.CDD, "label": "CDD ou intérim de moins de 6 mois"}
CDD_LONG = {"contract_type": ContractType.CDD, "contract_months": 6, "label": "CDD ou intérim de 6 mois ou plus"}
ALTERNANCE = {"contract_type": ContractType.ALTERNANCE, "contract_months": 6, "label": "Alternance"}
FORMATION = {"contract_type": ContractType.FORMATION, "label": "Formation"}
LOOKING = {"category": OutcomeCategory.AUTRE, "label": "En recherche"}


def script(year: Year) -> None:
    y = year
    # --- Lyon
    y.on(at(12, 15, year=2025), lambda: (y.register("lyon", "L0", kind="France Travail", sex="M", born=1970),
                                         y.book("L0", "L0", at(1, 8), tool="carnet")))
    y.on(at(1, 9), lambda: y.attended("L0", "L0"))
    y.on(at(2, 9), lambda: y.answers("L0", "1 month", **ALTERNANCE))
    y.on(at(1, 5), lambda: (y.register("lyon", "L1", kind="france_travail", sex="Femme", born=1998),
                            y.book("L1", "L1", at(1, 12))))
    y.on(at(1, 13), lambda: y.attended("L1", "L1"))
    y.on(at(2, 14), lambda: y.answers("L1", "1 month", **CDD_SHORT))
    y.on(at(4, 13), lambda: y.answers("L1", "3 months", **CDI))
    y.on(at(4, 20), lambda: y.staff("L1", contract_type=ContractType.FORMATION, label="Formation qualifiante"))
    y.on(at(1, 6), lambda: (y.register("lyon", "L2", structure="Mission Locale de Lyon", sex="H", born=2005),
                            y.book("L2", "L2a", at(1, 13))))
    y.on(at(1, 14), lambda: y.attended("L2", "L2a", present=False))
    y.on(at(1, 20), lambda: y.book("L2", "L2b", at(1, 27), tool="carnet"))
    y.on(at(1, 28), lambda: y.attended("L2", "L2b"))
    y.on(at(8, 1), lambda: y.staff("L2", **CDI))
    y.on(at(1, 10), lambda: (y.register("lyon", "L3", kind="Pôle emploi", sex="F", born=1965),
                             y.book("L3", "L3", at(1, 11), tool="carnet")))
    y.on(at(1, 12), lambda: y.attended("L3", "L3", present=False))
    y.on(at(2, 2), lambda: (y.register("lyon", "L4", kind="PLIE", sex="non-binaire"),
                            y.book("L4", "L4", at(2, 16))))
    y.on(at(2, 15), lambda: y.book("L4", "L4moved", at(2, 16, hour=14), moves="L4"))
    y.on(at(2, 17), lambda: y.attended("L4", "L4moved"))
    y.on(at(3, 17), lambda: y.answers("L4", "1 month", **FORMATION))
    y.on(at(8, 20), lambda: y.answers("L4", "6 months", **LOOKING))
    y.on(at(2, 3), lambda: (y.register("lyon", "L5", kind="CCAS", sex="M", born=1980), y.book("L5", "L5", at(2, 10))))
    y.on(at(2, 7), lambda: y.cancel("L5", "L5", at(2, 10), tool="calendly"))
    y.on(at(3, 2), lambda: (y.register("lyon", "L6", sex="F", born=2000), y.book("L6", "L6", at(3, 9))))
    y.on(at(3, 10), lambda: y.attended("L6", "L6"))
    y.on(at(4, 10), lambda: y.answers("L6", "1 month", **CDD_LONG))
    y.on(at(6, 10), lambda: y.answers("L6", "3 months", **CDD_SHORT))
    y.on(at(6, 12), lambda: y.answers("L6", "3 months", **CDI))
    y.on(at(10, 1), lambda: y.forget("L6"))
    y.on(at(3, 20), lambda: (y.register("lyon", "L7", kind="cap emploi", sex="F", born=1990),
                             y.book("L7", "L7", at(4, 20), tool="carnet")))
    y.on(at(4, 21), lambda: y.attended("L7", "L7"))
    y.on(at(5, 21), lambda: y.answers("L7", "1 month", **CDI))
    y.on(at(5, 25), lambda: y.staff("L7", category=OutcomeCategory.SORTIE_POSITIVE, label="Sortie positive"))
    y.on(at(6, 1), lambda: (y.register("lyon", "L8", kind="Mission locale", sex="M", born=1995),
                            y.book("L8", "L8", at(6, 8))))
    y.on(at(12, 20), lambda: (y.register("lyon", "L9", kind="Association Habitat Jeunes", born=2003),
                              y.book("L9", "L9", at(1, 5, year=2027))))
    # --- Bordeaux
    y.on(at(2, 10), lambda: (y.register("bordeaux", "B1", structure="France Travail Bordeaux Sud"),
                             y.book("B1", "B1", at(2, 17), tool="carnet")))
    y.on(at(2, 18), lambda: y.attended("B1", "B1"))
    y.on(at(3, 20), lambda: y.staff("B1", **CDI))
    y.on(at(3, 5), lambda: (y.register("bordeaux", "B2", kind="mission_locale"), y.book("B2", "B2", at(3, 12))))
    y.on(at(3, 13), lambda: y.attended("B2", "B2", present=False))
    y.on(at(6, 14), lambda: y.answers("B2", "3 months", **FORMATION))
    y.on(at(4, 1), lambda: (y.register("bordeaux", "B3"), y.book("B3", "B3a", at(4, 8), tool="carnet")))
    y.on(at(4, 3), lambda: (y.cancel("B3", "B3a", at(4, 8), tool="carnet"),
                            y.book("B3", "B3b", at(4, 10), tool="carnet")))
    y.on(at(4, 11), lambda: y.attended("B3", "B3b"))
    y.on(at(11, 1), lambda: y.staff("B3", category=OutcomeCategory.AUTRE, label="Autre"))


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Year]:
    """The scripted year, played once for the module (about a second and a half)."""
    from hub.plugins import PluginRegistry
    from hub.testing import build_hub

    registry = PluginRegistry()
    registry.add("carnet", RecordingSink())
    registry.add("chan", RecordingChannel())
    clock = FakeClock(START)
    hub = build_hub(tmp_path_factory.mktemp("year"), registry, {
        "lyon": {"name": "Lyon", "plugins": ["carnet", "chan"], "channels": {"email": "chan"},
                 "schedule": {"reminders": ["48h"]}, "messages": {"quiet_hours": "00:00-00:00"}},
        "bordeaux": {"name": "Bordeaux", "plugins": ["carnet"], "schedule": {"reminders": ["48h"]}},
    }, clock=clock)
    played = Year(hub, clock)
    script(played)
    played.run()
    yield played
    hub.close()


def report_cli(hub: Hub, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--config", str(hub.config.root), "report", *args], catch_exceptions=False,
                              obj={"registry": hub.registry, "hub": hub})


def flat(data: dict[str, Any]) -> dict[str, str]:
    """'scope figure' -> its text, and 'scope figure dimension:part' -> a part's text, from the JSON."""
    out = {}
    for scope in data["scopes"]:
        for section in scope["sections"]:
            for figure in section["figures"]:
                out[f"{scope['scope']} {figure['key']}"] = figure["text"]
                for breakdown in figure["breakdowns"]:
                    for part in breakdown["parts"]:
                        out[f"{scope['scope']} {figure['key']} {breakdown['dimension']}:{part['key']}"] = part["text"]
    return out


def expect(scope: str, figures: dict[str, str]) -> dict[str, str]:
    return {f"{scope} {key}": text for key, text in figures.items()}


# Worked out by hand from the script above (module docstring).
LYON = {
    "registered": "9",  # L1..L9 (L0 registered in 2025)
    "registered referrer:france_travail": "2", "registered referrer:mission_locale": "2",
    "registered referrer:plie": "1", "registered referrer:ccas": "1", "registered referrer:cap_emploi": "1",
    "registered referrer:autre": "1", "registered referrer:non_renseigne": "1",
    "registered sex:F": "4", "registered sex:M": "3", "registered sex:X": "1", "registered sex:non_renseigne": "1",
    "registered age_band:moins_de_25": "2", "registered age_band:25_54": "5", "registered age_band:55_et_plus": "1",
    "registered age_band:non_renseigne": "1",
    "sessions.booked": "10", "sessions.held": "6", "sessions.no_show": "2", "sessions.cancelled": "1",
    "sessions.unknown": "1",
    "sessions.held reminder:avec_rappel": "6", "sessions.held reminder:sans_rappel": "0",
    "sessions.no_show reminder:avec_rappel": "1", "sessions.no_show reminder:sans_rappel": "1",
    "sessions.held sex:F": "3", "sessions.held sex:M": "2", "sessions.held sex:X": "1",
    "sessions.held sex:non_renseigne": "0",
    "sessions.held age_band:moins_de_25": "1", "sessions.held age_band:25_54": "3",
    "sessions.held age_band:55_et_plus": "1", "sessions.held age_band:non_renseigne": "1",
    "sessions.no_show_rate": "25,0 %", "sessions.no_show_rate reminder:avec_rappel": "14,3 %",
    "sessions.no_show_rate reminder:sans_rappel": "100,0 %",
    "journey.honoured_15": "37,5 %", "journey.honoured_30": "50,0 %", "journey.self_booked": "77,8 %",
    "journey.median_days": "7",
    "outcomes.1_mois.due": "8", "outcomes.1_mois.answered": "5", "outcomes.1_mois.response_rate": "62,5 %",
    "outcomes.1_mois.emploi_durable": "2", "outcomes.1_mois.emploi_transition": "1",
    "outcomes.1_mois.formation": "1", "outcomes.1_mois.sortie_positive": "1", "outcomes.1_mois.autre": "0",
    "outcomes.1_mois.emploi_durable sex:F": "1", "outcomes.1_mois.emploi_durable sex:M": "1",
    "outcomes.1_mois.emploi_durable age_band:55_et_plus": "1", "outcomes.1_mois.emploi_durable age_band:25_54": "1",
    "outcomes.1_mois.formation sex:X": "1", "outcomes.1_mois.formation age_band:non_renseigne": "1",
    "outcomes.3_mois.due": "8", "outcomes.3_mois.answered": "2", "outcomes.3_mois.response_rate": "25,0 %",
    "outcomes.3_mois.emploi_durable": "1", "outcomes.3_mois.formation": "1", "outcomes.3_mois.emploi_transition": "0",
    "outcomes.6_mois.due": "8", "outcomes.6_mois.answered": "2", "outcomes.6_mois.response_rate": "25,0 %",
    "outcomes.6_mois.emploi_durable": "1", "outcomes.6_mois.autre": "1",
    "outcomes.6_mois.emploi_durable age_band:moins_de_25": "1", "outcomes.6_mois.autre sex:X": "1",
}
BORDEAUX = {
    "registered": "3", "registered referrer:france_travail": "1", "registered referrer:mission_locale": "1",
    "registered referrer:non_renseigne": "1",
    "sessions.booked": "4", "sessions.held": "2", "sessions.no_show": "1", "sessions.cancelled": "1",
    "sessions.unknown": "0", "sessions.held reminder:sans_rappel": "2", "sessions.no_show reminder:avec_rappel": "0",
    "sessions.no_show_rate": "33,3 %", "sessions.no_show_rate reminder:avec_rappel": "—",
    "sessions.no_show_rate reminder:sans_rappel": "33,3 %",
    "journey.honoured_15": "66,7 %", "journey.honoured_30": "66,7 %", "journey.self_booked": "33,3 %",
    "journey.median_days": "7",
    "outcomes.1_mois.due": "3", "outcomes.1_mois.answered": "1", "outcomes.1_mois.response_rate": "33,3 %",
    "outcomes.1_mois.emploi_durable": "1",
    "outcomes.3_mois.due": "3", "outcomes.3_mois.formation": "1", "outcomes.3_mois.response_rate": "33,3 %",
    "outcomes.6_mois.due": "3", "outcomes.6_mois.autre": "1", "outcomes.6_mois.response_rate": "33,3 %",
}
NETWORK = {
    "registered": "12", "registered referrer:france_travail": "3", "registered referrer:mission_locale": "3",
    "registered referrer:non_renseigne": "2",
    "registered sex:F": "4", "registered sex:non_renseigne": "4",  # Bordeaux's three people are not asked
    "registered age_band:non_renseigne": "4",
    "sessions.booked": "14", "sessions.held": "8", "sessions.no_show": "3", "sessions.cancelled": "2",
    "sessions.unknown": "1", "sessions.held sex:non_renseigne": "2",
    "sessions.no_show_rate": "27,3 %", "sessions.no_show_rate reminder:avec_rappel": "14,3 %",
    "sessions.no_show_rate reminder:sans_rappel": "50,0 %",
    "journey.honoured_15": "45,5 %", "journey.honoured_30": "54,5 %", "journey.self_booked": "66,7 %",
    "journey.median_days": "7",
    "outcomes.1_mois.due": "11", "outcomes.1_mois.answered": "6", "outcomes.1_mois.response_rate": "54,5 %",
    "outcomes.1_mois.emploi_durable": "3", "outcomes.1_mois.emploi_durable sex:non_renseigne": "1",
    "outcomes.3_mois.answered": "3", "outcomes.3_mois.formation": "2", "outcomes.3_mois.response_rate": "27,3 %",
    "outcomes.6_mois.answered": "3", "outcomes.6_mois.autre": "2", "outcomes.6_mois.emploi_durable": "1",
}


def test_a_scripted_year_gives_exactly_the_expected_figures_in_json(year: Year) -> None:
    result = report_cli(year.hub, "--from", "2026-01-01", "--to", "2026-12-31", "--raw")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["period"] == {"start": "2026-01-01", "end": "2027-01-01", "last_day": "2026-12-31"}
    assert data["view"] == "raw" and [s["scope"] for s in data["scopes"]] == ["bordeaux", "lyon", "reseau"]
    got = flat(data)
    wanted = {**expect("lyon", LYON), **expect("bordeaux", BORDEAUX), **expect("reseau", NETWORK)}
    assert {k: got.get(k) for k in wanted} == wanted
    assert not any(" sex:" in k or " age_band:" in k for k in got if k.startswith("bordeaux "))  # not asked there
    rate = next(f for s in data["scopes"] if s["scope"] == "lyon" for sec in s["sections"] for f in sec["figures"]
                if f["key"] == "sessions.no_show_rate")
    assert (rate["value"], rate["numerator"], rate["denominator"]) == (25.0, 2, 8)
    assert "RDV-Insertion" in rate["footnote"] and "absences / rendez-vous dont la présence est connue" in \
        rate["footnote"]


def test_the_report_names_nobody(year: Year) -> None:
    for args in (["--raw"], ["--raw", "--format", "csv"], []):
        text = report_cli(year.hub, "--from", "2026-01-01", "--to", "2026-12-31", *args).output
        assert "Testperson" not in text and "@example.org" not in text and "cnd_" not in text
        assert "+33" not in text and "Mission Locale de Lyon" not in text  # not even a structure's own name


def test_the_csv_has_one_row_per_scope_figure_and_group_with_the_same_numbers(year: Year, tmp_path: Path) -> None:
    out = tmp_path / "bilan.csv"
    result = report_cli(year.hub, "--from", "2026-01-01", "--to", "2026-12-31", "--raw", "--format", "csv",
                        "--output", str(out))
    assert result.exit_code == 0 and "réservé à l'équipe" in result.output
    assert os.stat(out).st_mode & 0o777 == 0o600
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig")), delimiter=";"))
    assert list(rows[0]) == ["Du", "Au", "Périmètre", "Antenne ou réseau", "Rubrique", "Indicateur", "Code",
                             "Ventilation", "Groupe", "Valeur", "Numérateur", "Dénominateur", "Masqué", "Définition"]
    cells = {(r["Périmètre"], r["Code"], r["Ventilation"], r["Groupe"]): r for r in rows}
    assert len(cells) == len(rows)  # one row per (scope, figure, breakdown group)
    registered = cells[("lyon", "registered", "", "")]
    assert (registered["Du"], registered["Au"], registered["Valeur"]) == ("2026-01-01", "2026-12-31", "9")
    assert registered["Indicateur"] == "Personnes inscrites" and registered["Définition"].startswith("Personnes")
    assert cells[("lyon", "registered", "Par structure d'orientation", "Mission locale")]["Valeur"] == "2"
    assert cells[("lyon", "registered", "Par sexe", "Femmes")]["Valeur"] == "4"
    assert cells[("reseau", "registered", "Par âge à l'inscription", "Non renseigné")]["Valeur"] == "4"
    rate = cells[("lyon", "sessions.no_show_rate", "", "")]
    assert (rate["Valeur"], rate["Numérateur"], rate["Dénominateur"]) == ("25,0 %", "2", "8")
    held = cells[("bordeaux", "sessions.held", "Selon l'envoi d'un rappel", "Sans rappel")]
    assert held["Valeur"] == "2" and held["Antenne ou réseau"] == "Bordeaux"
    durable = cells[("reseau", "outcomes.1_mois.emploi_durable", "", "")]
    assert durable["Rubrique"] == "Situation à 1 mois après le rendez-vous" and durable["Valeur"] == "3"
    assert "CDI" in durable["Définition"] and "DARES" in durable["Définition"]
    json_figures = flat(json.loads(report_cli(year.hub, "--from", "2026-01-01", "--to", "2026-12-31",
                                              "--raw").output))
    assert len(json_figures) == len(rows)


def test_small_counts_are_hidden_in_what_leaves_the_branch(year: Year) -> None:
    data = json.loads(report_cli(year.hub, "--from", "2026-01-01", "--to", "2026-12-31").output)
    assert data["view"] == "publishable" and data["small_count"] == 5
    got = flat(data)
    assert got["bordeaux registered"] == "< 5"  # 3 people
    assert got["bordeaux sessions.no_show_rate"] == "s"  # 1 / 3: its counts are small
    assert got["bordeaux journey.self_booked"] == "s"
    # the network shows 12 and Bordeaux "< 5": Lyon's 9 would give Bordeaux's 3 away, so it is hidden too
    assert (got["reseau registered"], got["lyon registered"]) == ("12", "s")
    assert got["reseau sessions.held"] == "8" and got["lyon sessions.held"] == "s"
    assert got["reseau journey.honoured_15"] == "45,5 %" and got["reseau journey.median_days"] == "7"
    assert got["reseau outcomes.1_mois.response_rate"] == "54,5 %"
    assert got["reseau outcomes.1_mois.emploi_durable"] == "< 5" and got["reseau sessions.no_show_rate"] == "s"
    lyon = next(s for s in data["scopes"] if s["scope"] == "lyon")
    registered = lyon["sections"][0]["figures"][0]
    assert (registered["value"], registered["suppressed"]) == (None, "secondary")
    rate = next(f for sec in lyon["sections"] for f in sec["figures"] if f["key"] == "sessions.no_show_rate")
    assert (rate["value"], rate["numerator"], rate["denominator"], rate["suppressed"]) == (None, None, None, "small")
    assert any("< 5" in note for note in data["notes"])
    # a branch's own report hides exactly what the network's does
    alone = flat(json.loads(report_cli(year.hub, "--from", "2026-01-01", "--to", "2026-12-31",
                                       "--branch", "lyon").output))
    assert alone == {k: v for k, v in got.items() if k.startswith("lyon ")}
    csv_rows = list(csv.DictReader(io.StringIO(report_cli(year.hub, "--from", "2026-01-01", "--to", "2026-12-31",
                                                          "--format", "csv").output), delimiter=";"))
    small = next(r for r in csv_rows if (r["Périmètre"], r["Code"], r["Ventilation"]) == ("bordeaux", "registered", ""))
    assert (small["Valeur"], small["Masqué"]) == ("< 5", "petit effectif")


def test_no_sum_gives_a_hidden_count_away(year: Year) -> None:
    report = publishable(compute(year.hub.store, year.hub.config, date(2026, 1, 1), date(2027, 1, 1),
                                 now=year.clock.now))
    for scope in report.scopes:
        cells: dict[tuple[str, str | None, str | None, str], bool] = {}
        for figure in scope.figures():
            parts = [(None, None, figure.cell), *((b.dimension, p.key, p.cell) for b in figure.breakdowns
                                                  for p in b.parts)]
            for dimension, part, cell in parts:
                for role in ("value", "numerator", "denominator"):
                    cells[(figure.key, dimension, part, role)] = cell.suppressed is not None
        for total, members in scope.relations:
            hidden = [ref for ref in (total, *members) if cells.get(ref)]
            assert len(hidden) != 1, (scope.scope, total, members)


def test_part_of_a_year_counts_an_erased_person_with_her_groups(year: Year) -> None:
    _, cid = year.people["L6"]
    assert year.hub.store.erasure_of(cid) is not None
    assert year.hub.store.get_entity("candidates", cid) == {"id": cid, "sex": "F", "extra": {"age_band": "25_54"}}
    march = compute(year.hub.store, year.hub.config, date(2026, 3, 1), date(2026, 4, 1), "lyon",
                    now=year.clock.now).scope("lyon")
    registered = march.figure("registered")  # L6 (erased since) and L7
    assert registered.cell.value == 2
    by = {b.dimension: {p.key: p.cell.value for p in b.parts} for b in registered.breakdowns}
    assert by["sex"]["F"] == 2 and by["age_band"]["25_54"] == 2
    assert by["referrer"]["non_renseigne"] == 1 and by["referrer"]["cap_emploi"] == 1
    assert march.figure("sessions.held").cell.value == 1  # her session of 03-09
    assert march.figure("journey.median_days").cell.value == 19  # her 7 days and L7's 31 (a session in April)


def test_a_staff_entry_wins_over_the_person_s_own_answer_for_the_same_horizon(year: Year) -> None:
    report = compute(year.hub.store, year.hub.config, date(2026, 4, 1), date(2026, 5, 1), "lyon",
                     now=year.clock.now).scope("lyon")
    # follow-ups at 3 months due in April: L0 (04-08), L3 (04-11), L1 (04-12), L2 (04-13, 04-27)
    assert report.figure("outcomes.3_mois.due").cell.value == 4
    assert report.figure("outcomes.3_mois.formation").cell.value == 1  # L1: staff's formation over her CDI
    assert report.figure("outcomes.3_mois.emploi_durable").cell.value == 0


def test_a_branch_with_no_data_gives_a_report_of_zeros(make_hub: Callable[..., Hub],
                                                       register_plugin: Callable[[str, object], object],
                                                       clock: FakeClock) -> None:
    register_plugin("carnet", RecordingSink())
    hub = make_hub({"paris": {"name": "Paris", "plugins": ["carnet"]}})
    hub.cycle()
    raw = report_cli(hub, "--raw")
    assert raw.exit_code == 0, raw.output
    got = flat(json.loads(raw.output))
    assert got["paris registered"] == "0" and got["reseau sessions.booked"] == "0"
    assert got["paris sessions.no_show_rate"] == "—" and got["paris journey.median_days"] == "—"
    assert not any(" sex:" in k for k in got)  # nobody was asked
    shared = flat(json.loads(report_cli(hub).output))
    assert shared["paris registered"] == "< 5" and shared["paris journey.self_booked"] == "s"
    table = report_cli(hub, "--format", "csv", "--branch", "paris")
    assert table.exit_code == 0 and table.output.startswith("Du;Au;Périmètre")
    first, last = default_period(clock.now.date())
    assert json.loads(raw.output)["period"]["start"] == first.isoformat() == "2026-02-01"
    assert last == date(2026, 2, 28)


def test_wrong_periods_and_branches_are_refused(make_hub: Callable[..., Hub],
                                               register_plugin: Callable[[str, object], object]) -> None:
    register_plugin("carnet", RecordingSink())
    hub = make_hub({"paris": {"plugins": ["carnet"]}})
    backwards = report_cli(hub, "--from", "2026-03-01", "--to", "2026-02-01")
    assert backwards.exit_code == 2 and "--to" in backwards.output
    unknown = report_cli(hub, "--branch", "pari")
    assert unknown.exit_code == 2 and "did you mean 'paris'" in unknown.output
