"""Text that came from outside (a link's query string, a file, a name, an error message
quoting either) made safe to show in Streamlit, whose text elements render Markdown.

``plain`` backslash-escapes every ASCII punctuation character (CommonMark lets any of
them be escaped, and shows the character itself), so ``![t](http://host/pixel.png)``,
``[click](…)``, ``<img …>``, ``:red[…]`` and ``$…$`` are shown as the characters they
are: no image is fetched, no link made. Bare ``http://``, ``www.`` and e-mail addresses
get an invisible word joiner that keeps them from being linked. It
also keeps such text to one line and a bounded length (a 5 MB label would pin the
browser tab). Every page passes outside text through it; it is the one way to do so."""
from __future__ import annotations

import re

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
DEFAULT_LIMIT = 300
# GitHub-flavoured Markdown turns bare addresses into links after escapes are resolved
# (``http\\://x`` is still linked), so an invisible word joiner goes where its patterns
# need adjacent characters: between ``:`` and ``//``, ``www`` and ``.``, and before ``@``.
WORD_JOINER = "\u2060"
_AUTOLINK = re.compile(r"(?i)(?<=:)(?=//)|(?<=www)(?=\.)|(?=@)")


def clip(text, limit: int = DEFAULT_LIMIT) -> str:
    """``text`` as one line of at most ``limit`` characters (an ellipsis marks a cut)."""
    text = _CONTROL.sub(" ", str(text))
    return text if len(text) <= limit else text[:limit - 1] + "…"


def plain(text, limit: int = DEFAULT_LIMIT) -> str:
    """``text`` escaped to show as itself in Markdown, on one line, clipped to ``limit``."""
    return _PUNCTUATION.sub(r"\\\1", _AUTOLINK.sub(WORD_JOINER, clip(text, limit)))
