"""The lab's errors: each one a learner can act on, with a message written for a person.

Every layer raises these (``lab.core`` defines them, so nothing needs a provider to say "bad input"). The CLI
prints ``str(e)`` as one line and exits 2; pages show it through ``ui.widgets.explained()``. What came from
elsewhere (an upstream error body, a URL a visitor typed) goes into a message only as an ``excerpt``.

    >>> str(InputError("The prompt is empty: type a question."))
    'The prompt is empty: type a question.'
    >>> isinstance(InputError("x"), ValueError), issubclass(MissingKeyError, LabError)
    (True, True)
    >>> excerpt("bad key" + chr(27) + "[31m red" + chr(10) * 2 + "x" * 300)[:24]
    'bad key [31m red xxxxxxx'
    >>> len(excerpt("y" * 1000))
    200
"""

from __future__ import annotations

import re


class LabError(Exception):
    """Base of every error the lab explains to a learner. ``str(e)`` is written for a person."""


class InputError(LabError, ValueError):
    """The request itself is wrong (empty prompt, too long, bad option)."""


class MissingKeyError(LabError):
    """A provider needs a key that is not set. The message names the environment variable."""


class AuthError(LabError):
    """The provider refused the key."""


class ProviderUnavailable(LabError):
    """The provider could not be reached (server down, wrong URL, package missing)."""


class ProviderTimeout(LabError):
    """The provider did not answer in time."""


class RateLimited(LabError):
    """The provider says: too many requests or quota exhausted."""


class ProviderError(LabError):
    """The provider answered with an error we do not classify further (its message is kept)."""


class BudgetExceeded(LabError):
    """A token budget set by the deployment is used up."""


EXCERPT_CHARS = 200  # an upstream body is the server's text, not ours: show only the start of it
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]+")


def excerpt(text: object, limit: int = EXCERPT_CHARS) -> str:
    """A short, sanitized excerpt of text that came from elsewhere (an upstream error body, a URL): keys
    redacted, control and bidi characters turned into spaces, whitespace collapsed, at most ``limit`` characters.

    >>> excerpt("bad key sk-abc" + chr(27) + "[31m red" + chr(10) * 2 + "x" * 300)[:40]
    'bad key sk-abc [31m red xxxxxxxxxxxxxxxx'
    >>> len(excerpt("y" * 1000))
    200
    """
    from lab.core.keys import redact

    clean = " ".join(_CONTROL.sub(" ", redact(str(text))).split())
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"
