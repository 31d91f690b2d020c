"""No password, token, seed or JWT appears anywhere eventkit writes or shows."""

from __future__ import annotations

import logging
import pickle

import nkeys
import pytest

import eventkit as ek

from .security import new_seed, operator, public

pytestmark = pytest.mark.integration

PASSWORD = "pw-Zebra-7731"
TOKEN = "tok-Quokka-9902"
URL_SECRET = "pw-Heron-4411"


def test_a_session_with_every_auth_method_leaks_nothing(tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    seed = new_seed(nkeys.PREFIX_BYTE_USER)
    (tmp_path / "user.nk").write_bytes(seed)
    op = operator()
    creds = op.user_creds(tmp_path / "user.creds")
    jwt = creds.read_text().split("-----BEGIN NATS USER JWT-----")[1].split("---")[0].strip()
    user_seed = creds.read_text().split("-----BEGIN USER NKEY SEED-----")[1].split("---")[0]
    secrets = [PASSWORD, TOKEN, URL_SECRET, seed.decode(), jwt, user_seed.strip()]

    def session(conn: ek.Connection) -> None:
        seen.append(repr(conn))
        seen.append(str(conn.__dict__))
        conn.create_stream("S", ["s.>"])
        conn.publish_many(["s.a"], [b'{"type":"a_happened","key":"k"}'])
        events = conn.read("S", progress=True)
        seen.extend([repr(events), events._repr_html_(), repr(events.info),
                     str(events.summary())])
        seen.append(repr(pickle.loads(pickle.dumps(events.info))))

    configs = [
        (f'authorization {{ user: "u", password: "{PASSWORD}" }}',
         {"user": "u", "password": PASSWORD}, {"user": "u", "password": "wrong"}),
        (f'authorization {{ token: "{TOKEN}" }}', {"token": TOKEN}, {"token": "nope"}),
        (f"authorization {{ users: [ {{ nkey: {public(seed)} }} ] }}",
         {"nkey_seed": tmp_path / "user.nk"}, None),
        (op.config, {"creds": creds}, None),
    ]
    for config, good, bad in configs:
        with ek.EmbeddedServer(config=config) as server:
            with ek.connect(server.url, **good) as conn:
                session(conn)
            if bad is not None:
                with pytest.raises(ek.AuthenticationError) as info:
                    ek.connect(server.url, **bad)
                seen += [str(info.value), repr(info.value)]
            url = server.url.replace("nats://", f"nats://u:{URL_SECRET}@")
            try:
                ek.connect(url)
            except ek.EventkitError as exc:
                seen += [str(exc), repr(exc)]
            else:
                raise AssertionError("a wrong URL password must be refused")
            seen.append(repr(ek.Connection(url)))
    out = capsys.readouterr()
    seen += [out.out, out.err, caplog.text]
    text = "\n".join(seen)
    assert "Connection(" in text and "Events" in text  # the scan looked at real output
    for secret in secrets:
        assert secret not in text
