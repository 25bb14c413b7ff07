"""Passwords never leave the process: URLs and messages as they may be printed or logged.

The masking works on the text, not on a parsed URL, so it also holds for URLs
no parser accepts (``postgresql://app:s3cret@[::1/shop``), for passwords given
as query parameters (``?password=s3cret``) and for URLs inside longer text,
such as a driver's error message.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

MASK = "***"

# user:password@ after the scheme; the password runs to the LAST '@', because
# operators write '@', '/' and '?' in passwords without percent-encoding them.
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][\w+.-]*://[^:/@?#\s]*:)(?P<secret>[^\s]*)(?=@)")
# password=..., pwd=..., sslpassword=... in a query string or a libpq keyword DSN.
_PARAMETER = re.compile(
    r"(?P<head>(?:^|[?&;\s])(?:\w*pass(?:word|wd)?|pwd|secret|token)=)(?P<secret>[^&;#\s]*)",
    re.IGNORECASE,
)


def redact(url: str) -> str:
    """``url`` with every password replaced by ``***``, safe to print or log.

    Covers ``user:password@`` (parsable or not) and password query parameters;
    a URL without a password comes back unchanged.
    """
    return scrub(url)


def scrub(text: str, *urls: str | None) -> str:
    """``text`` with the passwords of any URL in it masked, and those of ``urls`` too.

    Give the URLs a message may echo in another shape (a driver quoting only
    the password, decoded): their secrets are masked wherever they appear.
    """
    for secret in sorted({s for url in urls if url for s in secrets(url)}, key=len, reverse=True):
        # Whole words only: a password "ab" must not mask the "ab" in "table".
        text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", MASK, text)
    text = _USERINFO.sub(lambda m: m["head"] + _masked(m["secret"]), text)
    return _PARAMETER.sub(lambda m: m["head"] + _masked(m["secret"]), text)


def secrets(url: str) -> set[str]:
    """The passwords written in ``url``, as written and percent-decoded."""
    found = {m["secret"] for m in _USERINFO.finditer(url)}
    found |= {m["secret"] for m in _PARAMETER.finditer(url)}
    found = {s for s in found if s and s != MASK}
    return found | {unquote(s) for s in found}


def _masked(secret: str) -> str:
    # Already masked (a message that quotes a redacted URL): keep what follows the mask,
    # such as the ": " that ends the URL in "cannot open postgresql://...?password=***: ...".
    return MASK if secret and not secret.startswith(MASK) else secret
