"""A stand-alone fake ArcGIS Server site (Administrator API, tokens, GP jobs) with fault injection.

Standard library only, apart from `cryptography` for TLS certificates.
"""

from .clock import ManualClock, SystemClock
from .faults import KINDS as FAULT_KINDS
from .faults import OPERATIONS
from .requestlog import RecordedRequest
from .simulator import Simulator
from .state import Lifecycle
from .tls import generate_certificate
from .token_store import User

__all__ = [
    "FAULT_KINDS",
    "OPERATIONS",
    "Lifecycle",
    "ManualClock",
    "RecordedRequest",
    "Simulator",
    "SystemClock",
    "User",
    "generate_certificate",
]
