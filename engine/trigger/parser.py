"""Stage 2: tokens -> the engine's strict trigger tree.

Grammar (Segment's FQL as people mean it):

    trigger    := expr END
    expr       := term (CONJ term)*          -- one CONJ per group: 'and' or 'or', never both
    term       := '(' expr ')' | ['!'] FUNC '(' field ',' value ')' | field OP value
    FUNC       := contains | match
    OP         := = | != | < | <= | > | >=
    field      := type | event | name | userId | properties.<path> | traits.<path> | context.<path>

Every construct Segment would silently read differently from how it is written is refused with a
TriggerError that says what Segment would do and how to write it. Conditions are stored with Segment's
operator names and values (`number_equals`, `is_true`, ...) so the tree converts 1:1 to Segment's AST.
Extension: parentheses nest (Segment rejects nesting); precedence never matters because and/or cannot mix.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from engine.jsvalues import UNDEFINED, js_string
from engine.trigger.errors import TriggerError
from engine.trigger.lexer import (
    COMMA,
    CONDITIONAL,
    DOT,
    EOS,
    IDENT,
    NULL,
    NUMBER,
    OPERATOR,
    PARENLEFT,
    PARENRIGHT,
    STRING,
    Token,
    normalize,
    tokenize,
)
from engine.trigger.segment import TYPE_OF_FIELD, js_number_value

TOP_FIELDS = ("type", "event", "name", "userId")
NESTED_FIELDS = ("properties", "traits", "context")
FUNCTIONS = ("contains", "match")
COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")
_FIELDS_HELP = "type, event, name, userId, properties.<name>, traits.<name> or context.<name>"


@dataclass(frozen=True, slots=True)
class Condition:
    field: str  # one of TOP_FIELDS or NESTED_FIELDS
    name: str  # the path under properties/traits/context ('' for top-level fields)
    operator: str  # Segment's operator name: =, !=, <, number_equals, contains, starts_with, exists, is_true ...
    value: Any  # Segment's value; UNDEFINED for exists / not_exists / is_true / is_false
    column: int


@dataclass(frozen=True, slots=True)
class Group:
    operator: str  # 'and' | 'or'
    children: tuple[Condition | Group, ...]
    column: int


Node = Condition | Group


@dataclass(slots=True)
class Parsed:
    node: Node
    depth: int  # deepest parenthesis nesting (Segment reads at most 1)
    late_function_column: int | None = None  # a function that is not last inside its parentheses


@dataclass(slots=True)
class _Span:
    node: Node
    start: int
    end: int
    is_function: bool = False


def to_segment_ast(node: Node, top: bool = True) -> dict[str, Any]:
    """The AST Segment's parseFql produces for a trigger that it reads as written."""
    if isinstance(node, Group):
        return {"type": "group", "operator": node.operator,
                "children": [to_segment_ast(child, top=False) for child in node.children]}
    out: dict[str, Any] = {"type": TYPE_OF_FIELD[node.field]}
    if node.field in NESTED_FIELDS:
        out["name"] = node.name
    out["operator"] = node.operator
    if node.value is not UNDEFINED:
        out["value"] = node.value
    return {"type": "group", "operator": "and", "children": [out]} if top else out


class _Parser:
    def __init__(self, text: str):
        self.text = text
        cr = text.find("\r")
        if cr >= 0:
            raise TriggerError("carriage return (\\r): Segment does not treat it as whitespace and rejects "
                               "the whole trigger; use \\n line endings", cr + 1)
        self.tokens = normalize(tokenize(text))
        self.i = 0
        self.depth = 0
        self.late_function: int | None = None

    # -- helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def src(self, token: Token) -> str:
        return self.text[token.start:token.end]

    def describe(self, token: Token) -> str:
        return "the end of the trigger" if token.type == EOS else f"'{self.src(token)}'"

    def fail(self, message: str, token: Token | int) -> TriggerError:
        index = token if isinstance(token, int) else token.start
        return TriggerError(message, index + 1)

    # -- grammar
    def parse(self) -> Parsed:
        if self.tok.type == EOS:
            raise self.fail('empty trigger: write a condition such as type = "track"', 0)
        span = self.expr(0)
        token = self.tok
        if token.type == PARENRIGHT:
            raise self.fail("unmatched ')': Segment ignores it silently; remove it or add the missing '('", token)
        return Parsed(span.node, self.depth, self.late_function)

    def expr(self, depth: int) -> _Span:
        spans = [self.term(depth)]
        ops: list[Token] = []
        while True:
            token = self.tok
            if token.type == CONDITIONAL:
                ops.append(self.advance())
                spans.append(self.term(depth))
                continue
            if token.type in (EOS, PARENRIGHT):
                break
            self.unexpected_after_condition(token)
        if len({op.value for op in ops}) > 1:
            raise self.mixed(spans, ops)
        if depth > 0:
            for span in spans[:-1]:
                if span.is_function and self.late_function is None:
                    self.late_function = span.start + 1
        start, end = spans[0].start, spans[-1].end
        if len(spans) == 1:
            return _Span(spans[0].node, start, end, spans[0].is_function)
        group = Group(ops[0].value, tuple(s.node for s in spans), start + 1)
        return _Span(group, start, end)

    def mixed(self, spans: list[_Span], ops: list[Token]) -> TriggerError:
        first = ops[0].value
        culprit = next(op for op in ops if op.value != first)
        parts: list[str] = []
        run = [spans[0]]
        for op, span in zip(ops, spans[1:], strict=True):
            if op.value == "and":
                run.append(span)
                continue
            parts.append(self._run_text(run))
            run = [span]
        parts.append(self._run_text(run))
        suggestion = " or ".join(parts)
        return self.fail(
            f"'and' and 'or' mixed without parentheses: Segment applies the last one ('{ops[-1].value}') to "
            f"every condition in the group; add parentheses, e.g. {suggestion}", culprit)

    def _run_text(self, run: list[_Span]) -> str:
        text = self.text[run[0].start:run[-1].end]
        return f"({text})" if len(run) > 1 else text

    def unexpected_after_condition(self, token: Token) -> None:
        prev = self.tokens[self.i - 1]
        if token.type == IDENT and token.value in ("and", "or"):
            raise self.fail(f"put a space after '{token.value}': Segment reads '{token.value}(' as an unknown "
                            "word and skips it", token)
        if token.type == IDENT and token.value.lower() in ("and", "or"):
            raise self.fail(f"'{token.value}' is not a keyword: Segment skips it silently and joins the conditions "
                            f"with the group's other operator ('and' by default); write '{token.value.lower()}'",
                            token)
        if prev.type == NUMBER and token.start == prev.end:
            raise self.fail(f"Segment reads '{self.text[prev.start:token.end]}' as the number {self.src(prev)} "
                            f"followed by '{self.src(token)}'; write the number in plain decimal digits", token)
        raise self.fail(f"expected 'and', 'or' or the end of the trigger, found {self.describe(token)}", token)

    def term(self, depth: int) -> _Span:
        token = self.tok
        if token.type == PARENLEFT:
            self.advance()
            self.depth = max(self.depth, depth + 1)
            if self.tok.type == PARENRIGHT:
                raise self.fail("empty parentheses: Segment cannot evaluate ()", token)
            inner = self.expr(depth + 1)
            close = self.tok
            if close.type != PARENRIGHT:
                raise self.fail(f"unclosed '(' (opened at col {token.start + 1}): Segment rejects the trigger",
                                close)
            self.advance()
            return _Span(inner.node, token.start, close.end)
        if token.type == OPERATOR and token.value == "!":
            nxt = self.tokens[self.i + 1]
            if nxt.type == IDENT and nxt.value in FUNCTIONS:
                self.advance()
                return self.function(negate=True, start=token.start)
            if nxt.type == PARENLEFT:
                raise self.fail("Segment ignores '!' before '(' (!(a) means (a)); negate each condition "
                                "instead: !=, !contains(...), !match(...)", token)
            raise self.fail("Segment ignores '!' unless it comes right before contains( or match(; "
                            "use != to negate a comparison", token)
        if token.type == IDENT:
            if token.value in FUNCTIONS:
                return self.function(negate=False, start=token.start)
            return self.comparison()
        if token.type == CONDITIONAL:
            raise self.fail(f"expected a condition before '{token.value}'", token)
        raise self.fail(f"expected a condition such as type = \"track\", found {self.describe(token)}", token)

    def field(self, token: Token) -> tuple[str, str]:
        value = token.value
        head, dot, rest = value.partition(".")
        if token.truncated:
            raise self.fail(f"Segment drops the last letters of '{self.src(token)}' at the end of a trigger", token)
        if head in TOP_FIELDS:
            if dot:
                raise self.fail(f"'{head}' has no sub-fields: Segment reads '{value}' as '{head}'", token)
            return head, ""
        if head in NESTED_FIELDS:
            if not rest:
                raise self.fail(f"'{head}' needs a name: write {head}.<name>", token)
            return head, rest
        if value == "not":
            raise self.fail("'not' is not a keyword: Segment skips it silently, so 'not type = \"x\"' means "
                            "'type = \"x\"'; use != or !contains(...) / !match(...)", token)
        if value.lower() in ("and", "or"):
            raise self.fail(f"'{value}' is not a keyword (Segment skips it silently); write "
                            f"'{value.lower()}' between two conditions", token)
        hint = ""
        for known in TOP_FIELDS + NESTED_FIELDS:
            if head.lower() == known.lower():
                hint = f" (did you mean '{known}{dot}{rest}'?)"
        raise self.fail(f"unknown field '{value}': Segment skips conditions on it silently; use {_FIELDS_HELP}"
                        f"{hint}", token)

    def after_field(self, field_token: Token) -> None:
        """Explain a '.' that did not join the path: a keyword or a number after the dot."""
        dot = self.tok
        nxt = self.tokens[self.i + 1]
        label = self.src(field_token)
        if nxt.type in (CONDITIONAL, NULL) and nxt.start == dot.end:
            word = nxt.value
            raise self.fail(f"'{word}' is a keyword, so Segment cannot read '{label}.{word}'; escape one letter "
                            f"to use it as a name: {label}.{word[:-1]}\\{word[-1]}", nxt)
        if nxt.type == NUMBER and nxt.start == dot.end:
            raise self.fail(f"a name cannot start with a digit after '.': Segment misreads '{label}."
                            f"{self.src(nxt)}'; escape the dot to index an array: {label}\\.{self.src(nxt)}", nxt)
        raise self.fail(f"expected a name after '{label}.'", nxt if nxt.start == dot.end else dot)

    def comparison(self) -> _Span:
        field_token = self.advance()
        if self.tok.type == DOT:
            self.after_field(field_token)
        field_name, name = self.field(field_token)
        op = self.tok
        label = self.src(field_token)
        if op.type != OPERATOR or op.value == "!":
            if op.type == EOS:
                raise self.fail(f"expected an operator (=, !=, <, <=, >, >=) after '{label}'", op)
            raise self.fail(f"expected an operator (=, !=, <, <=, >, >=) after '{label}', found "
                            f"{self.describe(op)}", op)
        self.advance()
        value_token = self.tok
        if op.value in ("<", ">") and value_token.type == OPERATOR and value_token.value == "=" \
                and value_token.start == op.end:
            raise self.fail(f"put a space after '{op.value}=': Segment reads '{op.value}=' followed by a value "
                            f"as '{op.value}' and '='", op)
        if op.value in ("=", "!="):
            operator, value = self.equality_value(field_name, label, op.value, value_token)
        else:
            operator, value = self.number_value(field_name, op.value, value_token)
        self.advance()
        node = Condition(field_name, name, operator, value, field_token.start + 1)
        return _Span(node, field_token.start, value_token.end)

    def missing_value(self, op: str, token: Token, what: str = "a value") -> TriggerError:
        if token.type == EOS:
            return self.fail(f"expected {what} after '{op}'", token)
        hint = " (use a single '=')" if token.type == OPERATOR and token.value == "=" else ""
        return self.fail(f"expected {what} after '{op}', found {self.describe(token)}{hint}", token)

    def string_value(self, token: Token) -> str:
        raw = token.value
        if raw.startswith("'"):
            raise self.fail(f"single quotes: Segment keeps them in the value (it compares with the text {raw} "
                            f"quotes included); use double quotes: \"{raw[1:-1]}\"", token)
        if token.glued:
            after = self.text[token.end] if token.end < len(self.text) else ""
            raise self.fail(f"a closing quote must be followed by a space, ',', ')' or the end, not '{after}': "
                            "Segment strings have no escapes, so the string ends at this quote and the rest "
                            "is misread", token.end - 1)
        return raw[1:-1]

    def number(self, token: Token) -> int | float:
        value = js_number_value(token.value)
        if isinstance(value, float) and math.isnan(value):
            raise self.fail(f"'{token.value}' is not a number", token)
        return value

    def equality_value(self, field_name: str, label: str, op: str, token: Token) -> tuple[str, Any]:
        top = field_name in TOP_FIELDS
        if token.type == STRING:
            return op, self.string_value(token)
        if token.type == NUMBER:
            number = self.number(token)
            if top:
                text = js_string(number)
                raise self.fail(f"Segment compares {field_name} with the text \"{text}\", so a numeric "
                                f"{field_name} never matches; write {label} {op} \"{text}\"", token)
            return ("number_equals" if op == "=" else "number_not_equals"), number
        if token.type == NULL:
            if field_name in ("type", "event"):
                raise self.fail(f"Segment compares {field_name} with the text \"null\" and cannot test whether "
                                f"{field_name} is missing; write {label} {op} \"null\" to compare the text", token)
            return ("not_exists" if op == "=" else "exists"), UNDEFINED
        if token.type == IDENT and token.value in ("true", "false"):
            word = token.value
            if field_name in ("type", "event", "name"):
                raise self.fail(f"Segment compares {field_name} with the text \"{word}\"; write "
                                f"{label} {op} \"{word}\"", token)
            if op == "!=":
                other = "false" if word == "true" else "true"
                raise self.fail(f"Segment reads '!= {word}' as a text comparison that a boolean {word} also "
                                f"passes; write {label} = {other} to match {other}, or {label} != \"{word}\" "
                                "for the text", token)
            return ("is_true" if word == "true" else "is_false"), UNDEFINED
        if token.type == IDENT:
            if token.truncated:
                raise self.fail(f"Segment drops the last letters of '{self.src(token)}' at the end of a trigger; "
                                f"write \"{self.src(token)}\"", token)
            if token.value.split(".")[0] in TOP_FIELDS + NESTED_FIELDS:
                raise self.fail(f"Segment compares with the text '{token.value}', not with that field; write "
                                f"\"{token.value}\" if you mean the text", token)
            return op, token.value
        raise self.missing_value(op, token)

    def number_value(self, field_name: str, op: str, token: Token) -> tuple[str, Any]:
        top = field_name in TOP_FIELDS
        if token.type == NUMBER:
            number = self.number(token)
            return op, js_string(number) if top else number
        if token.type == STRING:
            text = self.string_value(token)
            if not _PLAIN_NUMBER.fullmatch(text):
                raise self.fail(f"'{op}' compares numbers and \"{text}\" is not a number, so Segment never "
                                "matches; write a number", token)
            return op, text
        raise self.missing_value(op, token, "a number")

    def function(self, negate: bool, start: int) -> _Span:
        fn = self.advance()
        name = fn.value
        if self.tok.type != PARENLEFT:
            raise self.fail(f"expected '(' after '{name}'", self.tok)
        self.advance()
        field_token = self.tok
        if field_token.type != IDENT:
            raise self.fail(f"expected a field as the first argument of {name}(), found "
                            f"{self.describe(field_token)}", field_token)
        if field_token.value == "type":
            raise self.fail(f"Segment's {name}() cannot test type (it drops the condition); compare with "
                            "type = \"...\" instead", field_token)
        self.advance()
        if self.tok.type == DOT:
            self.after_field(field_token)
        field_name, path = self.field(field_token)
        if self.tok.type != COMMA:
            raise self.fail(f"expected ',' after '{self.src(field_token)}', found {self.describe(self.tok)}",
                            self.tok)
        self.advance()
        value_token = self.tok
        if name == "contains":
            operator, value = ("not_contains" if negate else "contains"), self.contains_value(value_token)
        else:
            operator, value = self.match_pattern(value_token, negate)
        self.advance()
        close = self.tok
        if close.type != PARENRIGHT:
            raise self.fail(f"expected ')' to close {name}(, found {self.describe(close)}", close)
        self.advance()
        node = Condition(field_name, path, operator, value, field_token.start + 1)
        return _Span(node, start, close.end, is_function=True)

    def contains_value(self, token: Token) -> str:
        if token.type == STRING:
            return self.string_value(token)
        if token.type == NUMBER:
            text = js_string(self.number(token))
            if text != token.value:
                raise self.fail(f"Segment searches for the text \"{text}\", not \"{token.value}\"; write "
                                f"\"{token.value}\"", token)
            return text
        raise self.fail(f"expected a double-quoted text as the second argument of contains(), found "
                        f"{self.describe(token)}", token)

    def match_pattern(self, token: Token, negate: bool) -> tuple[str, str]:
        if token.type != STRING:
            raise self.fail(f"expected a double-quoted pattern such as \"Order*\" as the second argument of "
                            f"match(), found {self.describe(token)}", token)
        pattern = self.string_value(token)
        if pattern.endswith("*") and "*" not in pattern[:-1]:
            return ("not_starts_with" if negate else "starts_with"), pattern[:-1]
        if pattern.startswith("*") and "*" not in pattern[1:]:
            return ("not_ends_with" if negate else "ends_with"), pattern[1:]
        if "*" not in pattern:
            raise self.fail(f"match() without '*': Segment drops the first character and tests whether the "
                            f"value ends with \"{pattern[1:]}\"; write \"*{pattern}\" (ends with), "
                            f"\"{pattern}*\" (starts with) or use = for equality", token)
        raise self.fail("match() supports one '*', at the start or at the end of the pattern (Segment reads "
                        "any other '*' as a literal character); use contains() to search inside the text",
                        token)


def parse_trigger(text: str) -> Parsed:
    """Parse `text` into the strict tree; raise TriggerError (message, 1-based column) when refused."""
    return _Parser(text).parse()

