"""HTTPS: generated or given certificates, verified by clients that trust them and refused by others."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from arcgis_simulator import Simulator, generate_certificate


def info(sim: Simulator, http: requests.Session, verify: object) -> dict:
    return http.get(sim.base_url + "/rest/info", params={"f": "json"}, verify=verify).json()


def test_serves_https_with_its_own_certificate(tls_simulator: Simulator, http: requests.Session) -> None:
    assert tls_simulator.base_url.startswith("https://127.0.0.1:")
    assert tls_simulator.cert_path is not None and tls_simulator.cert_path.exists()
    answer = info(tls_simulator, http, str(tls_simulator.cert_path))
    assert answer["authInfo"]["tokenServicesUrl"] == tls_simulator.token_url
    token = http.post(
        tls_simulator.token_url,
        data={"username": "siteadmin", "password": "siteadmin", "f": "json"},
        verify=str(tls_simulator.cert_path),
    ).json()
    assert token["ssl"] is True


def test_certificate_also_names_localhost(tls_simulator: Simulator, http: requests.Session) -> None:
    url = f"https://localhost:{tls_simulator.port}/arcgis/rest/info"
    assert http.get(url, params={"f": "json"}, verify=str(tls_simulator.cert_path)).json()["currentVersion"]


def test_refused_by_a_client_trusting_another_ca(
    tls_simulator: Simulator, http: requests.Session, tmp_path: Path
) -> None:
    other_ca, _ = generate_certificate(tmp_path / "other")
    with pytest.raises(requests.exceptions.SSLError):
        info(tls_simulator, http, str(other_ca))


def test_refused_by_the_default_trust_store(tls_simulator: Simulator, http: requests.Session) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        info(tls_simulator, http, True)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_insecure_clients_still_connect(tls_simulator: Simulator, http: requests.Session) -> None:
    assert info(tls_simulator, http, False)["currentVersion"] == 11.3


def test_a_certificate_for_the_wrong_host(tmp_path: Path, http: requests.Session) -> None:
    cert, key = generate_certificate(tmp_path, ["gis.example.com"])
    with Simulator(cert=cert, key=key) as sim:
        assert sim.tls and sim.cert_path == cert
        with pytest.raises(requests.exceptions.SSLError, match=r"(?i)hostname|match"):
            info(sim, http, str(cert))


def test_cert_dir_keeps_the_generated_files(tmp_path: Path) -> None:
    with Simulator(tls=True, cert_dir=tmp_path) as sim:
        assert sim.cert_path == tmp_path / "cert.pem"
    assert (tmp_path / "cert.pem").exists() and (tmp_path / "key.pem").exists()


def test_temporary_certificates_are_removed_on_stop() -> None:
    sim = Simulator(tls=True).start()
    cert_path = sim.cert_path
    assert cert_path is not None and cert_path.exists()
    sim.stop()
    assert not cert_path.exists()


def test_cert_needs_a_key(tmp_path: Path) -> None:
    cert, _ = generate_certificate(tmp_path)
    with pytest.raises(ValueError, match="key"):
        Simulator(cert=cert)


def test_plain_http_is_not_spoken_on_the_tls_port(tls_simulator: Simulator, http: requests.Session) -> None:
    with pytest.raises(requests.ConnectionError):
        http.get(tls_simulator.base_url.replace("https://", "http://") + "/rest/info", timeout=5)
