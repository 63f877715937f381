"""The MIME message: what a mail client (and Gmail) reads back from the bytes the channel builds."""

from __future__ import annotations

import base64
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from hub.errors import DeliveryRejected
from hub.testing import T0, make_candidate, make_message
from hub_gmail import mime

UNSUBSCRIBE = ("<https://hub.example.org/desinscription/lyon/cnd_0123456789abcdef0123456789abcdef?jeton="
               "abcdefabcdefabcdefabcdefabcdef>, <mailto:lyon@cravate.org?subject=desinscription>")


def built(**fields: object) -> tuple[bytes, EmailMessage]:
    message = make_message(make_candidate(first_name="Aïcha", last_name="Benali", email="aicha.benali@example.org"),
                           subject="Votre rendez-vous à La Cravate Solidaire est confirmé : mardi 8 décembre",
                           headers={"List-Unsubscribe": UNSUBSCRIBE,
                                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}, **fields)
    mail = mime.build(message, sender="lyon@cravate.org", from_name="La Cravate Solidaire Lyon — équipe",
                      reply_to="conseillere@cravate.org", delivery_key=f"{message.id}:gmail", now=T0)
    raw = base64.urlsafe_b64decode(mime.encode(mail))
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    return raw, parsed


def test_multipart_alternative_with_text_and_html() -> None:
    raw, mail = built()
    assert mail.get_content_type() == "multipart/alternative"
    parts = list(mail.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" and p["Content-Transfer-Encoding"] == "quoted-printable"
               for p in parts)
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    assert "Bonjour Aïcha," in text.get_content() and "<p>Bonjour Aïcha,</p>" in html.get_content()
    assert mail["MIME-Version"] == "1.0" and all(p["MIME-Version"] is None for p in parts)
    assert max(len(line) for line in raw.split(b"\r\n")[raw.split(b"\r\n").index(b""):]) <= 78  # QP lines


def test_headers_are_encoded_and_read_back() -> None:
    raw, mail = built()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii() and b"=?utf-8?" in head  # RFC 2047: no raw UTF-8 in the headers
    assert mail["Subject"] == "Votre rendez-vous à La Cravate Solidaire est confirmé : mardi 8 décembre"
    assert mail["From"].addresses[0].display_name == "La Cravate Solidaire Lyon — équipe"
    assert mail["From"].addresses[0].addr_spec == "lyon@cravate.org"
    assert mail["To"].addresses[0].display_name == "Aïcha Benali"
    assert mail["To"].addresses[0].addr_spec == "aicha.benali@example.org"
    assert mail["Reply-To"].addresses[0].addr_spec == "conseillere@cravate.org"
    assert mail["Date"].datetime == T0


def test_list_unsubscribe_stays_readable() -> None:
    """Folded at 78 columns, the long URL would become encoded words, which RFC 2369 readers cannot read."""
    raw, mail = built()
    assert f"List-Unsubscribe: {UNSUBSCRIBE}\r\n".encode() in raw
    assert mail["List-Unsubscribe"] == UNSUBSCRIBE
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_message_id_carries_the_delivery_key() -> None:
    _, mail = built()
    msgid = str(mail["Message-ID"])
    assert msgid.startswith("<") and msgid.endswith(".cravate-hub@cravate.org>")
    key = mime.delivery_key_of(msgid)
    assert key is not None and key.endswith(":gmail")
    assert mime.delivery_key_of("<CA+abc@mail.gmail.com>") is None


def test_text_only() -> None:
    _, mail = built(html=None)
    assert mail.get_content_type() == "text/plain" and "Bonjour Aïcha" in mail.get_content()


@pytest.mark.parametrize("headers", [{"X-Note": "un\r\nBcc: autre@example.org"}, {"Bcc": "autre@example.org"},
                                     {"To": "autre@example.org"}])
def test_header_injection_is_refused(headers: dict[str, str]) -> None:
    message = make_message(headers=headers)
    with pytest.raises(DeliveryRejected) as caught:
        mime.build(message, sender="lyon@cravate.org", from_name=None, reply_to=None, delivery_key="k", now=T0)
    assert "@" not in str(caught.value)


@pytest.mark.parametrize("to", ["pas-une-adresse", "prénom@example.org", "a b@example.org", "x@"])
def test_a_bad_address_is_rejected_without_being_echoed(to: str) -> None:
    with pytest.raises(DeliveryRejected) as caught:
        mime.build(make_message(to=to), sender="lyon@cravate.org", from_name=None, reply_to=None,
                   delivery_key="k", now=T0)
    assert to not in str(caught.value) and "destinataire" in str(caught.value)


def test_an_international_domain_is_punycoded() -> None:
    mail = mime.build(make_message(to="marie@exämple.fr"), sender="lyon@cravate.org", from_name=None,
                      reply_to=None, delivery_key="k", now=T0)
    assert mail["To"].addresses[0].domain == "xn--exmple-cua.fr"


def test_raw_decoding_accepts_both_alphabets() -> None:
    data = bytes(range(250, 256)) * 3
    assert mime.decode_raw(base64.urlsafe_b64encode(data).decode().rstrip("=")) == data
    assert mime.decode_raw(base64.b64encode(data).decode()) == data
