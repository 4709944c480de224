"""asyncssh, as the SSH transport's modules import it: without the warnings its loading causes.

asyncssh supports DSA keys, and cryptography (since 48) warns when DSA's classes
are used: ten lines of `CryptographyDeprecationWarning` on stderr on every run
that loads the SSH transport. orchc's users see no library warnings; exactly
that category, and only when raised from asyncssh's code, is ignored.
"""

import warnings

from cryptography.utils import CryptographyDeprecationWarning

warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning, module=r"asyncssh\.")

import asyncssh  # noqa: E402  (after the filter)

__all__ = ["asyncssh"]
