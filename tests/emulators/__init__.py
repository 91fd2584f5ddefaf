"""Fakes of destination APIs (the four seed destinations, m3ter, an OAuth2 API), as plain ASGI apps, plus a loopback server helper.

Import as ``emulators`` (pytest puts ``tests/`` on sys.path while ``tests/`` has no ``__init__.py``)
or ``tests.emulators``.
"""

from .base import ConnectionDropped, Emulator, Fault, Faults, Recorded, Response
from .m3ter import M3terEmulator
from .oauth import OAuthEmulator
from .server import ServerHandle, serve_in_thread
from .usercom import UserComEmulator
from .usermaven import UsermavenEmulator
from .usermotion import UserMotionEmulator
from .userpilot import UserpilotEmulator

__all__ = [
    "ConnectionDropped",
    "Emulator",
    "Fault",
    "M3terEmulator",
    "OAuthEmulator",
    "Faults",
    "Recorded",
    "Response",
    "ServerHandle",
    "UserComEmulator",
    "UserMotionEmulator",
    "UsermavenEmulator",
    "UserpilotEmulator",
    "serve_in_thread",
]
