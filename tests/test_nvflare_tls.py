"""A FLARE admin kit of another project is told at once (``nvflare_tls.check_server_certificate``): one TLS
handshake with the kit's rootCA.pem against a real TLS server on loopback (certificates from our provisioning,
the server asking for a client certificate as FLARE's does), instead of waiting the ~8 s FLARE's connector takes
to log its refusal (fuser10 #13)."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from console.backends.nvflare_tls import check_server_certificate
from console.provision.certs import CertKind, issue_cert, make_root_ca, write_pem_cert, write_pem_key
from console.wire.tls import server_certificate_words, server_context


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """A loopback TLS server (its project's rootCA.pem returned) that shakes hands with every connection."""
    folder = tmp_path_factory.mktemp("server")
    root, root_key = make_root_ca("flare_poc")
    cert, key = issue_cert(root, root_key, cn="server", org="nvidia", kind=CertKind.SERVER, sans=["localhost"])
    write_pem_cert(folder / "rootCA.pem", root)
    write_pem_cert(folder / "server.crt", cert)
    write_pem_key(folder / "server.key", key)
    context = server_context(folder / "server.crt", folder / "server.key", folder / "rootCA.pem")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except OSError:
                continue
            raw.settimeout(5)
            try:
                with context.wrap_socket(raw, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                raw.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], folder / "rootCA.pem"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def _kit(folder: Path, port: int, root_pem: bytes, security: str = "mtls") -> Path:
    (folder / "startup").mkdir(parents=True)
    (folder / "startup" / "rootCA.pem").write_bytes(root_pem)
    (folder / "startup" / "fed_admin.json").write_text(json.dumps({"admin": {
        "host": "127.0.0.1", "port": port, "connection_security": security, "ca_cert": "rootCA.pem"}}))
    return folder


def _told(kit: Path) -> list[str]:
    said: list[str] = []
    check_server_certificate(kit, said.append, timeout=10)
    return said


@pytest.mark.timeout(60)
def test_a_kit_of_another_project_is_told_with_openssls_reason(tls_server: tuple[int, Path], tmp_path: Path) -> None:
    port, _ = tls_server
    other, _ = make_root_ca("other_project")

    said = _told(_kit(tmp_path, port, other.public_bytes(Encoding.PEM)))
    assert len(said) == 1, said
    assert server_certificate_words(said[0]).startswith("the server's certificate is not signed by this kit's "
                                                         "rootCA.pem"), said


@pytest.mark.timeout(60)
def test_the_servers_own_project_and_a_clear_kit_are_not_told(tls_server: tuple[int, Path], tmp_path: Path) -> None:
    port, root = tls_server
    assert _told(_kit(tmp_path / "own", port, root.read_bytes())) == []
    other, _ = make_root_ca("other_project")

    assert _told(_kit(tmp_path / "clear", port, other.public_bytes(Encoding.PEM), security="clear")) == []


@pytest.mark.timeout(60)
def test_an_unreachable_server_is_left_to_the_login(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    assert _told(_kit(tmp_path, port, b"not a pem")) == []
