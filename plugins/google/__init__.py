"""hub_google: Google authentication shared by the Google connectors (Sheets, Gmail).

Not a plugin itself (no entry point): each Google plugin imports it, so neither imports the other. Google
libraries are imported inside functions so `hub --help` stays fast.
"""

from hub_google.auth import (
    SCOPES,
    GoogleAuth,
    GoogleAuthSettings,
    auth_failed,
    load_credentials,
    token_path,
)

__all__ = ["SCOPES", "GoogleAuth", "GoogleAuthSettings", "auth_failed", "load_credentials", "token_path"]
