"""What the ArcGIS client's tests share: a simulated site with one GP service (Hydrology/Watershed), and clients
on fresh connections to it, each closed after its test."""

from __future__ import annotations

import pytest

from arcgis_client import AdminClient, ServiceRef, SiteConnection

REFERER = "https://portal.example.com/"
GP = "Hydrology/Watershed"
WATERSHED = ServiceRef("Hydrology", "Watershed")


@pytest.fixture
def gis(simulator):
    simulator.state.add_service("Watershed", folder="Hydrology")
    return simulator


@pytest.fixture
def open_connection():
    """Fresh SiteConnections to a simulator (closed after the test), bound to REFERER; trusting the simulator's own
    certificate when it serves HTTPS, unless `trust_certificate=False` leaves verification to the system's CAs."""
    opened = []

    def _open(sim, *, trust_certificate: bool = True, **settings) -> SiteConnection:
        trusted = {"verify": str(sim.cert_path)} if sim.tls and trust_certificate else {}
        connection = SiteConnection(sim.admin_url, **{"referer": REFERER, **trusted, **settings})
        opened.append(connection)
        return connection

    yield _open
    for connection in opened:
        connection.close()


@pytest.fixture
def connect_to(open_connection):
    """An AdminClient on a fresh connection, by default with a token of the simulator's siteadmin (certificates
    are verified as the connection's own settings say)."""

    def _connect(sim, user="siteadmin", *, token=None, referer=REFERER, **settings) -> AdminClient:
        connection = open_connection(sim, trust_certificate=False, referer=referer, **settings)
        if token is None and user is not None:
            token = sim.issue_token(user, referer=referer)
        return AdminClient(connection, token)

    return _connect


@pytest.fixture
def token(gis) -> str:
    return gis.issue_token("siteadmin", referer=REFERER)


@pytest.fixture
def admin(gis, token, open_connection) -> AdminClient:
    return AdminClient(open_connection(gis), token)
