"""`score4climate serve` over HTTPS, started for real with a self-signed certificate for
127.0.0.1: HTTPS answers, plain HTTP on the same port gets no response at all, and a key
without its certificate (or a missing file) stops the start with a message."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.devcert import CertificatePair, self_signed
from tests import dbsetup
from tests.serve_process import ServeProcess, serve


@pytest.fixture
def scratch_url(worker_id_safe: str) -> Iterator[str]:
    name = f"s4c_tls_{worker_id_safe}_{uuid.uuid4().hex[:10]}"
    url = dbsetup.fresh_database(name)
    yield url
    dbsetup.drop_database(name)


@pytest.fixture
def pair(tmp_path: Path) -> CertificatePair:
    return self_signed(tmp_path / "tls")


def env_for(url: str) -> dict[str, str]:
    return {"ENVIRONMENT": "test", "DATABASE_URL": url, "SECRET_KEY": "k" * 40}


def plain_http_reply(port: int) -> bytes:
    """Everything the server sends back to a plain HTTP/1.1 request, until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        received = b""
        while chunk := conn.recv(4096):
            received += chunk
        return received


def test_serve_with_flags_speaks_https_and_refuses_plain_http(scratch_url, pair, tmp_path):
    server = ServeProcess(
        tmp_path,
        env_for(scratch_url),
        "--ssl-keyfile",
        str(pair.keyfile),
        "--ssl-certfile",
        str(pair.certfile),
        ca=pair.certfile,
    )
    assert server.until_ready(), server.log.read_text()
    try:
        answer = httpx.get(f"{server.base_url}/healthz", verify=server.verify, timeout=5)
        assert answer.status_code == 200
        assert answer.json() == {"status": "ok"}
        # Without the certificate as an authority, the client refuses the server.
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{server.base_url}/healthz", timeout=5)
        # Plain HTTP on the TLS port: the handshake fails and the connection is closed
        # without a single byte of response, so nothing of the API is served.
        assert plain_http_reply(server.port) == b""
        with pytest.raises(httpx.RemoteProtocolError, match="Server disconnected without sending a response"):
            httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5)
        # ... and the server goes on serving HTTPS.
        assert httpx.get(f"{server.base_url}/readyz", verify=server.verify, timeout=5).status_code == 200
    finally:
        served = server.stop(ready=True)
    assert f"SCORE4Climate API on https://127.0.0.1:{served.port}" in served.output
    # Only the HTTPS request reached the application.
    assert served.output.count('"path":"/healthz"') == 1, served.output


def test_serve_reads_the_tls_files_from_settings(scratch_url, pair, tmp_path):
    env = {**env_for(scratch_url), "SSL_KEYFILE": str(pair.keyfile), "SSL_CERTFILE": str(pair.certfile)}
    served = ServeProcess(tmp_path, env, ca=pair.certfile).wait()
    assert served.ready, served.output
    assert f"on https://127.0.0.1:{served.port}" in served.output


def test_key_without_certificate_or_missing_file_stops_the_start(pair, tmp_path):
    env = env_for("postgresql://nobody@127.0.0.1:9/none")
    cases = (
        (env, ("--ssl-keyfile", str(pair.keyfile)), "--ssl-keyfile and --ssl-certfile"),
        (
            env,
            ("--ssl-keyfile", str(pair.keyfile), "--ssl-certfile", str(tmp_path / "absent.pem")),
            f"the TLS certificate file {tmp_path / 'absent.pem'} does not exist",
        ),
        (
            {**env, "SSL_CERTFILE": str(pair.certfile)},
            (),
            "SSL_KEYFILE and SSL_CERTFILE are set together or not at all",
        ),
    )
    for case_env, args, message in cases:
        served = serve(tmp_path, case_env, *args)
        assert not served.ready and served.returncode != 0
        assert message in served.output, served.output
