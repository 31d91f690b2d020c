"""No password, token, seed or JWT appears anywhere eventkit writes or shows.

A session with every auth method: reprs, errors, log lines, progress bars,
store files and checkpoint, and the state widgets would save in a notebook.
(The saved notebook itself is scanned by tests/browser/test_saved_notebook.py.)
"""

from __future__ import annotations

import json
import logging
import pickle

import nkeys
import pytest

import eventkit as ek
from eventkit.widgets import Explorer, LiveTail

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
        store = ek.Store(tmp_path / f"store-{len(seen)}")  # store files and checkpoint
        store.sync(conn, "S", progress=True)
        seen.extend(p.read_bytes().decode("latin-1") for p in store.path.rglob("*") if p.is_file())
        seen.append(str(store.integrity(conn)))
        explorer = Explorer(events)  # widget state, as a saved notebook would keep it
        tail = LiveTail(conn, "S", every=0.2)
        try:
            for widget in (explorer, tail):
                seen.append(json.dumps(widget.get_state(), default=repr))
                seen.append(repr(widget))
        finally:
            tail.close()
            explorer.close()

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
