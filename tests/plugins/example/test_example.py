"""The worked example of docs/writing-a-plugin.md, run against its sandbox on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import hub_example.plugin as example
from hub.app import Hub
from hub.events import EventKind
from hub.sandbox import serve
from hub.testing import ConnectorConformance, make_event
from hub_example.sandbox import CarnetSandbox

TOKEN = "t0ken"


@pytest.fixture
def carnet() -> Iterator[tuple[CarnetSandbox, str]]:
    sandbox = CarnetSandbox()
    with serve({"example": sandbox}) as urls:
        yield sandbox, urls["example"]


@pytest.fixture
def carnet_hub(make_hub: Callable[..., Hub], register_plugin: Callable[[str, object], object],
               carnet: tuple[CarnetSandbox, str]) -> Hub:
    register_plugin("example", example)
    return make_hub({"conformance": {"plugins": ["example"], "example": {"url": carnet[1]}}},
                    environ={"HUB_CONFORMANCE_EXAMPLE_TOKEN": TOKEN})


class TestExampleConformance(ConnectorConformance):
    plugin_name = "example"
    plugin = example

    @pytest.fixture
    def connector_hub(self, carnet_hub: Hub, carnet: tuple[CarnetSandbox, str]) -> Hub:
        carnet[0].add_signup(TOKEN, first_name="Zoé", email="zoe@example.org")
        return carnet_hub

    def effect_snapshot(self, hub: Hub) -> Any:
        return [len(entries) for entries in self.sandbox.journal.values()]

    @pytest.fixture(autouse=True)
    def _keep(self, carnet: tuple[CarnetSandbox, str]) -> None:
        self.sandbox = carnet[0]  # the suite makes it fail (fail_next_request) to check the error mapping


def test_signups_become_registrations_and_reach_the_journal(carnet_hub: Hub,
                                                            carnet: tuple[CarnetSandbox, str]) -> None:
    sandbox, _ = carnet
    for i in range(3):
        sandbox.add_signup(TOKEN, first_name=f"Élodie{i}", last_name="Núñez", email=f"e{i}@example.org")
    report = carnet_hub.cycle(force_poll=True)
    assert report.ingested == 3 and report.delivered == 6  # each registration, and its welcome mail
    journal = sandbox.journal[TOKEN]
    assert [e["text"] for e in journal if e["kind"] == "candidate_registered"] == [
        f"Inscription d'Élodie{i} Núñez" for i in range(3)]
    mails = [e for e in journal if e["kind"] == "message_due"]
    assert [m["message"]["to"] for m in mails] == [f"e{i}@example.org" for i in range(3)]
    assert all(m["text"].startswith("Mail envoyé à Élodie") for m in mails)
    requests = sandbox.requests
    carnet_hub.cycle(force_poll=True)
    assert sandbox.requests == requests + 1  # an idle poll is one request


def test_a_revoked_token_pauses_the_plugin_and_loses_nothing(carnet_hub: Hub,
                                                              carnet: tuple[CarnetSandbox, str]) -> None:
    sandbox, _ = carnet
    sandbox.revoked.add(TOKEN)
    carnet_hub.ingest("conformance", "other", [make_event(EventKind.CANDIDATE_REGISTERED) for _ in range(2)])
    carnet_hub.cycle()
    assert ("conformance", "example") in carnet_hub.store.pauses()
    assert TOKEN not in sandbox.journal
    sandbox.revoked.clear()  # a new token, then `hub retry`
    carnet_hub.store.resume("conformance", "example")
    carnet_hub.cycle()
    kinds = sorted(e["kind"] for e in sandbox.journal[TOKEN])
    # the kit's two sample people share a phone: one person, registered twice, welcomed once (the mail waited too)
    assert kinds == ["candidate_registered"] * 2 + ["message_due"]


def test_the_fake_serves_a_request_while_another_is_still_sending_its_body() -> None:
    """The daemon's lanes post concurrently; a fake that holds a lock while awaiting a body froze them all."""
    import socket

    import httpx

    with serve({"example": CarnetSandbox()}) as urls:
        host, port = urls["example"].removeprefix("http://").split(":")
        slow = socket.create_connection((host, int(port)))
        try:
            slow.sendall(b"POST /journal HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nIdempotency-Key: k1\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"text\": ")
            reply = httpx.post(f"{urls['example']}/journal", json={"text": "b"}, timeout=5,
                               headers={"Authorization": "Bearer t", "Idempotency-Key": "k2"})
            assert reply.status_code == 201
            slow.sendall(b"\"a\"}")
            assert b"201" in slow.recv(200)
        finally:
            slow.close()


def test_a_forgotten_person_leaves_carnet_journal_and_signups_with_a_receipt(
        carnet_hub: Hub, carnet: tuple[CarnetSandbox, str]) -> None:
    sandbox, _ = carnet
    sandbox.add_signup(TOKEN, first_name="Élodie", last_name="Núñez", email="elodie@example.org")
    sandbox.add_signup(TOKEN, first_name="Zoé", last_name="Roux", email="zoe@example.org")
    carnet_hub.cycle(force_poll=True)
    assert any("Élodie" in e["text"] for e in sandbox.journal[TOKEN])
    cid = carnet_hub.store.find_candidate("conformance", email_key="elodie@example.org", phone_key=None)
    assert cid is not None
    plan = carnet_hub.eraser.forget("conformance", cid)
    assert carnet_hub.cycle().errors == []
    assert not any("Élodie" in str(e) for e in sandbox.journal[TOKEN])
    assert [s["email"] for s in sandbox.signups[TOKEN]] == ["zoe@example.org"]  # only hers went
    assert any("Zoé" in e["text"] for e in sandbox.journal[TOKEN])
    (receipt,) = carnet_hub.store.receipts(plan.erasure_id)
    assert (receipt.plugin, receipt.state) == ("example", "done")
    assert receipt.items == (("done", "lignes du journal Carnet"), ("done", "inscription reçue par Carnet"))
    carnet_hub.cycle(force_poll=True)  # the sign-up is gone from Carnet; the hub registers nobody again
    assert carnet_hub.store.count("candidates", "conformance") == 2
