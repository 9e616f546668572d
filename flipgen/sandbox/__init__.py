"""The Smile emulator: ``emulator.py`` answers the API side in process; the widget side is a
stand-in script for ``smile.v2.js`` that lives beside it."""

from flipgen.sandbox.emulator import SmileEmulator, decode_access_token, is_emulator_user_id

__all__ = ["SmileEmulator", "decode_access_token", "is_emulator_user_id"]
