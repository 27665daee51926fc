"""The one text normalization used for every input and target, in training and in evaluation.

Why: the T5 / FlanT5 SentencePiece vocabulary cannot represent all of the data's text. It has no
piece for `<`, `{`, `}`, `~`, `^`, `\\` or the backtick, nor for `×`, `÷`, `−`, `½`, `√` and many
accented letters, and it folds newlines into spaces. Fed raw, 7,378 of the 7,473 GSM8K training
rationales contain `<unk>` (the `<<48/2=24>>` calculator notes), a model can never emit those
characters, and a Dyck-language target like `} >` is unreachable. Applying one function to both
the training targets and the evaluation references keeps what the model is taught and what it is
scored against in the same, representable text space.

`normalize_text` does, in this order:

1. removes GSM8K calculator annotations `<<...>>` (the same regex as Fu et al.'s demos,
   `<<.*?>>`);
2. rewrites the ASCII characters the vocabulary lacks as HTML character references
   (`<` -> `&lt;`, `{` -> `&lbrace;`, `}` -> `&rbrace;`, `~` -> `&#126;`, `^` -> `&Hat;`,
   `\\` -> `&bsol;`, backtick -> `&grave;`): one rule, distinct for every character (so Dyck
   brackets stay distinguishable), undone by `html.unescape` (or exactly by
   `denormalize_text`), natural for the SVG paths of BBH geometric_shapes;
3. rewrites math symbols as ASCII: `×` -> `*`, `÷` -> `/`, `−` -> `-`, `√` -> `sqrt`,
   `¢` -> `cents`, vulgar fractions `½` -> `1/2` (with a space after a digit: `1½` -> `1 1/2`);
4. folds any other non-ASCII character the vocabulary lacks to its base letters when there is
   one (`ñ` -> `n`, `Ö` -> `O`, `ø` -> `o`, `²` -> `2`); characters the vocabulary has (`é`, `ü`,
   `ß`, `€`, curly quotes, ...) are kept, Cyrillic capitals that look Latin become Latin (`А` ->
   `A`); anything else (e.g. CJK) is kept and would encode as `<unk>` (no such character occurs
   in any dataset here: normalized, all of them tokenize without `<unk>`);
5. drops zero-width characters and turns every whitespace run, newlines included, into one
   space, then strips the ends. A newline has no stand-in: T5's tokenizer would turn it into a
   space anyway, and Fu et al.'s students emit single-line chains of thought too.

`denormalize_text` undoes step 2 only, for answer extraction (see there).

The function depends on nothing but its input (no vocabulary file is read), so the same text comes
out whichever vocabulary a task is tokenized with.
"""

from __future__ import annotations

import re
import unicodedata

CALCULATOR_NOTE = re.compile(r"<<.*?>>")

# Non-ASCII characters the T5 vocabulary encodes verbatim (no <unk>, decodes to itself); computed
# from spiece.model over U+00A0..U+2FFF and U+FF00..U+FFEF, checked by tests/test_tasks_formats.py.
T5_NON_ASCII = frozenset("£«\xad®°»ÉÎÜßàáâäçèéêîóôöùûüăşţșțавдеиклмнорсту–—‘’“”„•′€")

# ASCII characters without a T5 piece -> HTML character references.
ASCII_ESCAPES = {
    "<": "&lt;",
    "{": "&lbrace;",
    "}": "&rbrace;",
    "~": "&#126;",  # no HTML5 name (`&tilde;` is U+02DC)
    "^": "&Hat;",
    "\\": "&bsol;",
    "`": "&grave;",
}

SYMBOLS = {
    "×": "*",
    "÷": "/",
    "−": "-",
    "√": "sqrt",
    "¢": " cents ",
}

# Letters whose compatibility decomposition has no ASCII base.
_LETTER_FOLDS = {"ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ł": "l", "Ł": "L", "ı": "i"}
_LETTER_FOLDS |= {"đ": "d", "Đ": "D", "þ": "th", "Þ": "Th", "ð": "d", "Ð": "D"}
# Cyrillic capitals that look like Latin ones (the vocabulary has only lower-case Cyrillic); GSM8K
# train has "А Senior Center is hosting ..." with a Cyrillic А.
_LETTER_FOLDS |= dict(zip("АВЕКМНОРСТХ", "ABEKMHOPCTX", strict=True))

_ZERO_WIDTH = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"}
_FRACTION_SLASH = "\u2044"


_ESCAPE_TABLE = str.maketrans(ASCII_ESCAPES)
_NON_ASCII = re.compile(r"(\d?)([^\x00-\x7f])")


def _representable(text: str) -> bool:
    return all(c.isascii() or c in T5_NON_ASCII for c in text)


def _rewrite_non_ascii(char: str, after_digit: bool) -> str:
    if char in T5_NON_ASCII:
        return char
    if char in SYMBOLS:
        return SYMBOLS[char]
    if char in _ZERO_WIDTH:
        return ""
    if char in _LETTER_FOLDS:
        return _LETTER_FOLDS[char]
    decomposed = unicodedata.normalize("NFKD", char)
    if _FRACTION_SLASH in decomposed:  # ½ -> 1/2; 1½ -> 1 1/2
        fraction = decomposed.replace(_FRACTION_SLASH, "/")
        return (" " + fraction) if after_digit else fraction
    folded = "".join(c for c in decomposed if not unicodedata.combining(c))
    return folded if folded and _representable(folded) else char


def _non_ascii(match: re.Match[str]) -> str:
    digit, char = match.groups()
    return digit + _rewrite_non_ascii(char, bool(digit))


def normalize_text(text: str) -> str:
    """`text` in the T5-representable form used for all task inputs and targets (module doc)."""
    text = CALCULATOR_NOTE.sub("", text)
    if not text.isascii():
        text = _NON_ASCII.sub(_non_ascii, text)
    return " ".join(text.translate(_ESCAPE_TABLE).split())


_REVERSE_ESCAPES = {escape: char for char, escape in ASCII_ESCAPES.items()}
_ESCAPE = re.compile("|".join(re.escape(escape) for escape in _REVERSE_ESCAPES))


def denormalize_text(text: str | bytes) -> str:
    """Undo step 2 of `normalize_text` (`&lt;` -> `<`, `&rbrace;` -> `}`, ...), nothing else.

    Answer extraction reads the original characters (a Dyck answer is `} >`, not `&rbrace; >`),
    so task postprocessors apply this to model outputs and references alike before extracting.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return _ESCAPE.sub(lambda match: _REVERSE_ESCAPES[match.group()], text)
