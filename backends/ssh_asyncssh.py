"""asyncssh, as the SSH transport's modules import it: without the warnings and the slow look-ups its loading causes.

asyncssh supports DSA keys, and cryptography (since 48) warns when DSA's classes
are used: ten lines of `CryptographyDeprecationWarning` on stderr on every run
that loads the SSH transport. orchc's users see no library warnings; exactly
that category, and only when raised from asyncssh's code, is ignored.

asyncssh also looks for two optional C libraries as it loads (nettle for the
umac MACs, liboqs for sntrup761 key exchange) with `ctypes.util.find_library`,
which on Linux asks the linker's cache (`ldconfig -p`) and then, for each name
not there, runs a C compiler and the linker: seven processes and a tenth of
a second of every run's start-up. While asyncssh loads, the names are looked
up in the linker's cache only, where the libraries a package manager installs are.
"""

import ctypes.util
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from cryptography.utils import CryptographyDeprecationWarning


@contextmanager
def _libraries_from_the_linker_cache() -> Iterator[None]:
    in_cache = getattr(ctypes.util, "_findSoname_ldconfig", None)  # CPython's own look-up, on Linux
    if in_cache is None:
        yield
        return
    find_library = ctypes.util.find_library
    ctypes.util.find_library = in_cache
    try:
        yield
    finally:
        ctypes.util.find_library = find_library


warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning, module=r"asyncssh\.")

with _libraries_from_the_linker_cache():
    import asyncssh

__all__ = ["asyncssh"]
