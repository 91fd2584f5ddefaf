"""Stage 1: trigger text -> tokens, cut exactly as Segment's lexer (fql-ts 1.10.1) cuts them.

Both layers read these tokens: the Segment-exact parser (`segment.py`) and the engine's strict parser
(`parser.py`). Where fql-ts fails it gives up on the whole trigger; here the failure is a `TriggerError`
with a real message and column, which the Segment layer turns back into Segment's TypeError.

Quirks kept on purpose, because Segment has them:
- whitespace is space, tab and newline only; `\\r` is an invalid character outside strings;
- `and`, `or`, `null`, `!=`, `<=`, `>=` are keywords only when a terminator (end, whitespace, `,`, `]`, `)`)
  follows; `a<=1` is an error and `<=1` is `<` then `=` then `1`;
- strings have no escapes; a closing quote not followed by a terminator is left for the next token, which
  starts a new string there (`glued`);
- at the very end of the input the keyword look-ahead swallows letters: `an`, `nu`, `nul` become the
  identifiers `a`, `n`, `n` (`truncated`).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.trigger.errors import TriggerError

IDENT = "ident"
DOT = "dot"
OPERATOR = "operator"
CONDITIONAL = "conditional"
STRING = "string"
NUMBER = "number"
NULL = "null"
BRACKLEFT = "brackleft"
BRACKRIGHT = "brackright"
PARENLEFT = "parenleft"
PARENRIGHT = "parenright"
COMMA = "comma"
EOS = "eos"

WHITESPACE = frozenset(" \t\n")
TERMINATORS = frozenset(" \t\n,])")
_PUNCT = {".": DOT, "[": BRACKLEFT, "]": BRACKRIGHT, ",": COMMA, "(": PARENLEFT, ")": PARENRIGHT}
_AFTER_IDENT = TERMINATORS | frozenset(".(=!")


@dataclass(slots=True)
class Token:
    type: str
    value: str  # Segment's token value: strings keep their quotes, identifiers are unescaped
    start: int  # index of the first character in the text
    end: int  # index after the last character that belongs to the token
    glued: bool = False  # a string whose closing quote is not followed by a terminator
    truncated: bool = False  # Segment's look-ahead swallowed letters after it (`an` at the end -> `a`)


def _alpha(c: str) -> bool:
    return ("a" <= c <= "z") or ("A" <= c <= "Z")


def _digit(c: str) -> bool:
    return "0" <= c <= "9"


def _ident_char(c: str) -> bool:
    return _alpha(c) or _digit(c) or c in "_-\\"


def _show(c: str) -> str:
    special = {"\n": "'\\n'", "\t": "'\\t'", "\r": "'\\r'"}
    if c in special:
        return special[c]
    return f"'{c}'" if c.isprintable() else f"U+{ord(c):04X}"


class _Lexer:
    def __init__(self, text: str):
        self.text = text
        self.n = len(text)
        self.i = 0

    def fail(self, message: str, index: int) -> TriggerError:
        return TriggerError(message, index + 1)

    def _terminated(self, j: int) -> bool:
        return j >= self.n or self.text[j] in TERMINATORS

    def run(self) -> list[Token]:
        text, n = self.text, self.n
        tokens: list[Token] = []
        while True:
            if self.i >= n:
                tokens.append(Token(EOS, "eos", n, n))
                return tokens
            start = self.i
            c = text[start]
            self.i += 1
            if c in WHITESPACE:
                continue
            if c == "!" and self.i < n and (_alpha(text[self.i]) or text[self.i] == "("):
                tokens.append(Token(OPERATOR, "!", start, self.i))
                continue
            if _alpha(c) or c in "!=<>_":
                tokens.append(self._operator_or_word(c, start))
            elif _digit(c) or c in "-+":
                tokens.append(self._number(c, start))
            elif c in "\"'":
                tokens.append(self._string(c, start))
            elif c in _PUNCT:
                tokens.append(Token(_PUNCT[c], c, start, self.i))
            elif c == "\r":
                raise self.fail("carriage return (\\r) outside a string: Segment accepts only space, tab and "
                                "newline between tokens and rejects the whole trigger", start)
            else:
                raise self.fail(f"unexpected character {_show(c)}", start)

    def _accept(self, word: str) -> bool | None:
        """fql-ts `accept`: True if `word` follows and then a terminator. At the end of input the
        characters read so far stay consumed (returns None then), as in fql-ts."""
        j = self.i
        chars = ""
        for _ in word:
            if j >= self.n:
                consumed = j > self.i
                self.i = j
                return None if consumed else False
            ch = self.text[j]
            j += 1
            chars += ch
            if ch in TERMINATORS:
                break
        if chars == word and self._terminated(j):
            self.i = j
            return True
        return False

    def _operator_or_word(self, c: str, start: int) -> Token:
        if c == "=":
            return Token(OPERATOR, "=", start, self.i)
        if c == "!":
            if self._accept("="):
                return Token(OPERATOR, "!=", start, self.i)
            nxt = self.text[self.i] if self.i < self.n else ""
            if nxt == "=":
                after = self.text[self.i + 1]
                raise self.fail(f"'!=' must be followed by a space, not {_show(after)}", start)
            if nxt == "":
                raise self.fail("'!' at the end of the trigger", start)
            raise self.fail("'!' must be followed directly by contains( or match(, or be '!=' followed by "
                            "a space", start)
        if c in "<>":
            if self._accept("="):
                return Token(OPERATOR, c + "=", start, self.i)
            return Token(OPERATOR, c, start, self.i)
        for first, rest, kind in (("a", "nd", CONDITIONAL), ("o", "r", CONDITIONAL), ("n", "ull", NULL)):
            if c == first:
                accepted = self._accept(rest)
                if accepted:
                    return Token(kind, first + rest, start, self.i)
                token = self._ident(c, start)
                token.truncated = accepted is None
                return token
        return self._ident(c, start)

    def _ident(self, first: str, start: int) -> Token:
        text, n = self.text, self.n
        chars = [first]
        while self.i < n and _ident_char(text[self.i]):
            ch = text[self.i]
            self.i += 1
            if ch == "\\":
                if self.i >= n:
                    raise self.fail("'\\' at the end of the trigger escapes nothing", self.i - 1)
                ch = text[self.i]
                self.i += 1
            chars.append(ch)
        word = "".join(chars)
        if self.i < n and text[self.i] not in _AFTER_IDENT:
            nxt = text[self.i]
            hint = ""
            if nxt in "<>":
                hint = f": put a space before {_show(nxt)}"
            elif nxt == "[":
                hint = ": Segment paths use dots (context.traits.email), not brackets"
            elif nxt in "\"'":
                hint = ": put a space before the string"
            elif nxt == "\r":
                hint = ": carriage return (\\r) is not whitespace for Segment; use \\n line endings"
            raise self.fail(f"unexpected character {_show(nxt)}{hint}", self.i)
        return Token(IDENT, word, start, self.i)

    def _number(self, first: str, start: int) -> Token:
        text, n = self.text, self.n
        decimal = False
        while self.i < n and (_digit(text[self.i]) or text[self.i] == "."):
            ch = text[self.i]
            self.i += 1
            if ch == ".":
                if self._terminated(self.i):
                    raise self.fail("a number cannot end with '.'", self.i - 1)
                if decimal:
                    raise self.fail("a number cannot have two decimal points", self.i - 1)
                decimal = True
        return Token(NUMBER, text[start:self.i], start, self.i)

    def _string(self, quote: str, start: int) -> Token:
        close = self.text.find(quote, self.i)
        if close < 0:
            raise self.fail("unterminated string", start)
        value = self.text[self.i:close]
        if self._terminated(close + 1):
            self.i = close + 1
            return Token(STRING, f"{quote}{value}{quote}", start, close + 1)
        self.i = close  # fql-ts leaves the quote: it opens the next string
        return Token(STRING, f"{quote}{value}{quote}", start, close + 1, glued=True)


def tokenize(text: str) -> list[Token]:
    """Segment's tokens for `text`, ending with an EOS token; raises TriggerError where fql-ts fails."""
    return _Lexer(text).run()


def normalize(tokens: list[Token]) -> list[Token]:
    """Merge `ident . ident` chains into one identifier (`context.traits.email`), as Segment does."""
    out: list[Token] = []
    i = 0
    n = len(tokens)
    while i < n:
        cur = tokens[i]
        last = out[-1] if out else None
        nxt = tokens[i + 1] if i + 1 < n else None
        if last is not None and last.type == IDENT and cur.type == DOT and nxt is not None and nxt.type == IDENT:
            out[-1] = Token(IDENT, f"{last.value}.{nxt.value}", last.start, nxt.end,
                            truncated=last.truncated or nxt.truncated)
            i += 2
        else:
            out.append(cur)
            i += 1
    return out
