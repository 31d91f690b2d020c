"""Tracebacks that print frame locals (rich, IPython's verbose mode, pytest's
``--showlocals``) never show a password, token, seed or JWT."""

from __future__ import annotations

import traceback

import nkeys
import pytest
from _pytest._code import ExceptionInfo

import eventkit as ek

from .security import new_seed, operator

pytestmark = pytest.mark.integration

RIGHT = "pw-Right-Osprey-5150"
WRONG = "pw-Wrong-Marmot-2287"
TOKEN = "tok-Wrong-Gecko-6613"
URL_PW = "pw-Url-Bison-9034"
CONF = f'authorization {{ user: "alice", password: "{RIGHT}" }}'  # not a local of the test


def _shown(exc: BaseException) -> str:
    """The traceback as printers with locals show it, every frame's locals included."""
    te = traceback.TracebackException.from_exception(exc, capture_locals=True)
    text = "".join(te.format())
    assert "eventkit" in text and " = " in text  # frames of eventkit, with their locals
    pytest_text = str(ExceptionInfo.from_exception(exc).getrepr(showlocals=True, chain=True))
    return text + "\n" + pytest_text


def test_a_failing_connect_shows_no_secret_in_frame_locals(tmp_path):
    shown: list[str] = []
    with ek.EmbeddedServer(config=CONF) as server:
        with pytest.raises(ek.AuthenticationError) as info:
            ek.connect(server.url, user="alice", password=WRONG)
        shown.append(_shown(info.value))
        with pytest.raises(ek.AuthenticationError) as info:
            ek.connect(server.url.replace("nats://", f"nats://alice:{URL_PW}@"))
        shown.append(_shown(info.value))
        with pytest.raises(ek.AuthenticationError) as info:
            ek.connect(server.url, token=TOKEN)
        shown.append(_shown(info.value))
        with ek.connect(server.url, user="alice", password=RIGHT) as conn:
            with pytest.raises(ek.StreamNotFoundError) as info:  # an error after connecting
                conn.read("NOPE")
            shown.append(_shown(info.value))
    # (the test's own frame is in each traceback: it holds paths, never the secrets)
    creds = operator().user_creds(tmp_path / "user.creds")
    with ek.EmbeddedServer(config=operator().config) as server:  # another operator: refused
        with pytest.raises(ek.AuthenticationError) as info:
            ek.connect(server.url, creds=creds)
        shown.append(_shown(info.value))
    (tmp_path / "user.nk").write_bytes(new_seed(nkeys.PREFIX_BYTE_USER))
    with ek.EmbeddedServer(config=CONF) as server:
        with pytest.raises(ek.AuthenticationError) as info:
            ek.connect(server.url, nkey_seed=tmp_path / "user.nk")
        shown.append(_shown(info.value))
    (tmp_path / "bad.creds").write_text(
        creds.read_text().replace("-----BEGIN USER NKEY SEED-----", ""))
    with pytest.raises(ek.ConfigurationError) as info:
        ek.connect("nats://127.0.0.1:1", creds=tmp_path / "bad.creds")
    shown.append(_shown(info.value))
    everything = "\n".join(shown)
    assert "alice" in everything  # the user name is no secret, and the scan saw the frames
    text = creds.read_text()
    jwt = text.split("-----BEGIN NATS USER JWT-----")[1].split("---")[0].strip()
    seed = text.split("-----BEGIN USER NKEY SEED-----")[1].split("---")[0].strip()
    nk = (tmp_path / "user.nk").read_text()
    for secret in (RIGHT, WRONG, TOKEN, URL_PW, jwt, seed, nk):
        assert secret not in everything


def test_a_secret_hides_itself_until_revealed():
    from eventkit.source._wire import Secret

    secret = Secret("hunter2")
    assert "hunter2" not in repr(secret) + str(secret) + f"{secret}" + repr([secret])
    assert secret.reveal() == "hunter2"
