"""Explain a lark syntax error as a `Diagnostic`: where, what is wrong, and how to fix it.

lark says which token it did not expect and which terminals it would have
accepted; the parser's value stack still holds the tokens of every block that
is open at that point. From these we name the block ("task 'start', opened at
12:3"), recognise the usual mistakes (a missing '}', a misspelt statement, an
unterminated string, a bad duration) and otherwise list what was expected.

Most mistakes leave the rest of the file readable: a misspelt statement, a bad
value, a stray ';' — anything inside a statement that ends on the line of the
mistake. For those the problem also says which text to blank out (from the
statement's keyword to the end of that line) so that the parser can try again
and report the next mistake. After a missing bracket nothing can be trusted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lark import Lark, Token, UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from orchc.dsl.ast import Name, Span
from orchc.dsl.diagnostics import Diagnostic, did_you_mean
from orchc.dsl.keywords import keywords

_CLOSING = {"LBRACE": "RBRACE", "LSQB": "RSQB", "LPAR": "RPAR"}
_TERMINAL_NAMES = {
    "NAME": "a name",
    "STRING": "a string",
    "TRIPLE_STRING": "a string",
    "INT": "an integer",
    "FLOAT": "a number",
    "DURATION": "a duration",
    "$END": "the end of the file",
}
_VALUE_TERMINALS = {"STRING", "INT", "FLOAT", "DURATION"}
_DURATION_HINT = "write a number followed by ms, s, m or h, e.g. 90s or 10m"
_NUMBER_WORD = re.compile(r"-?[\w.]+")
_ONE_LINE_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"(?!")')


@dataclass
class _Block:
    """A '{', '[' or '(' that is still open where the error is."""

    bracket: Token
    description: str  # "task 'start'", "a map", ...
    opened: Token  # the declaration's keyword, or the bracket itself

    @property
    def closing(self) -> str:
        return {"LBRACE": "}", "LSQB": "]", "LPAR": ")"}[self.bracket.type]

    def opened_at(self) -> str:
        return f"{self.description} (opened at {self.opened.line}:{self.opened.column})"


@dataclass
class SyntaxProblem:
    diagnostic: Diagnostic
    skip: tuple[int, int] | None  # text offsets to blank out before parsing again; None: stop here


def syntax_error(exc: UnexpectedInput, text: str, file: str, lark: Lark) -> SyntaxProblem:
    explain = _Explainer(exc, text, file, lark)
    if isinstance(exc, UnexpectedToken):
        diagnostic = explain.unexpected_token(exc.token)
    elif isinstance(exc, UnexpectedCharacters):
        diagnostic = explain.unexpected_characters(exc.pos_in_stream)
    else:
        diagnostic = Diagnostic("error", "syntax error", explain.point(exc.line, exc.column))
    return SyntaxProblem(diagnostic, explain.skip)


class _Explainer:
    def __init__(self, exc: UnexpectedInput, text: str, file: str, lark: Lark) -> None:
        self.text = text
        self.file = file
        self.lark = lark
        self.expected = _accepted(exc)
        stack: list[Any] = list(getattr(exc.state, "value_stack", None) or [])
        self.stack = stack
        self.blocks = _open_blocks(stack)
        self.previous = stack[-1] if stack and isinstance(stack[-1], Token) else None
        self.skip: tuple[int, int] | None = None
        self.bracket_missing = False  # then nothing after the error can be trusted

    # --- the two kinds of lark errors

    def unexpected_characters(self, pos: int) -> Diagnostic:
        line = self.text.count("\n", 0, pos) + 1
        column = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        line_end = self.text.find("\n", pos)
        rest = self.text[pos:] if line_end < 0 else self.text[pos:line_end]
        to_line_end = Span(self.file, line, column, line, column + max(1, len(rest)))
        if rest.startswith('"""'):
            return Diagnostic(
                "error", "unterminated multi-line string", self.point(line, column, 3), hint='end it with \'"""\''
            )
        if rest.startswith('"'):
            return Diagnostic(
                "error",
                "unterminated string",
                to_line_end,
                hint='end it with \'"\' on the same line; for text over several lines write """..."""',
            )
        if re.match(r"-?\d", rest):
            word = _NUMBER_WORD.match(rest).group(0)  # type: ignore[union-attr]  # the re.match above saw a digit, so _NUMBER_WORD matches
            self.skip_statement(pos)
            return self.bad_number(word, self.point(line, column, len(word)))
        char = rest[:1] or "end of file"
        if char == ";":
            self.skip = (pos, pos + 1)
        else:
            self.skip_statement(pos)
        hint = "statements need no separator: remove it" if char == ";" else f"expected {self.expected_text()}"
        return Diagnostic("error", f"unexpected character '{char}'{self.where()}", self.point(line, column), hint=hint)

    def unexpected_token(self, token: Token) -> Diagnostic:
        if token.type == "$END":
            return self.unexpected_end(token)
        diagnostic = self.explain_token(token)
        if self.skip is None and not self.bracket_missing:
            self.skip_statement(token.start_pos)
        return diagnostic

    def explain_token(self, token: Token) -> Diagnostic:
        span = self.token_span(token)
        shown = _shown(token)
        block = self.blocks[-1] if self.blocks else None
        closes = block is not None and _CLOSING[block.bracket.type] in self.expected
        if closes and str(token) in keywords().declarations and str(token) not in self.keywords():
            self.bracket_missing = True
            return Diagnostic(
                "error",
                f"expected '{block.closing}' to close {block.opened_at()}",
                span,
                hint=f"{shown} cannot appear inside {block.description}: close {block.description} first",
                notes=self.left_open(block),
            )
        if token.type == "NAME" and self.expected >= _VALUE_TERMINALS:
            return Diagnostic(
                "error",
                f"expected a value, got the word '{token}'",
                span,
                hint=f'quote text: "{token}"; values are strings, numbers, durations, '
                "true, false, null, [lists] and { maps }",
            )
        if self.expected == {"DURATION"}:
            return self.bad_number(str(token), span)
        if str(token) == "import" and not self.blocks:
            return Diagnostic(
                "error",
                "'import' after a declaration",
                span,
                hint="move every import to the top of the file, before the declarations",
            )
        if _is_word(token) and self.at_statement_start():
            self.skip_rest_of_statement(token)
            return self.unknown_statement(str(token), span)
        after = f" after '{self.previous}'" if self.previous is not None and _is_word(self.previous) else ""
        hint = did_you_mean(str(token), self.keywords()) if _is_word(token) else None
        if len(self.expected) == 1 and hint is None:
            return Diagnostic(
                "error",
                f"expected {self.expected_text()}{after}, got {shown}{self.where()}",
                span,
                hint=f"insert {self.expected_text()} before {shown}",
            )
        return Diagnostic(
            "error", f"unexpected {shown}{after}{self.where()}", span, hint=hint or f"expected {self.expected_text()}"
        )

    # --- the usual mistakes

    def unexpected_end(self, token: Token) -> Diagnostic:
        if token.end_line is None:  # empty input: lark gives a position-less end token
            end = self.point(1, 1)
        else:
            end = self.point(token.end_line, token.end_column)
        if self.blocks:
            block = self.blocks[-1]
            return Diagnostic(
                "error",
                f"expected '{block.closing}' to close {block.opened_at()}",
                end,
                hint=f"the file ends inside {block.description}: add '{block.closing}'",
                notes=self.left_open(block),
            )
        return Diagnostic("error", "unexpected end of file", end, hint=f"expected {self.expected_text()}")

    def skip_rest_of_statement(self, token: Token) -> None:
        """Blank the unknown statement to the end of its line, if that leaves the brackets balanced."""
        self.skip_from(token.start_pos, token.start_pos)

    def skip_statement(self, error_pos: int) -> None:
        """Blank the statement in which the error is, from its keyword to the end of the error's line."""
        block = self.enclosing_declaration()
        floor = next((i for i, v in enumerate(self.stack) if v is block.bracket), -1) if block else -1
        for value in reversed(self.stack[floor + 1 :]):
            if isinstance(value, Token) and value.type != "NAME" and str(value) in keywords().statements:
                self.skip_from(value.start_pos, error_pos)
                return

    def skip_from(self, start: int, error_pos: int) -> None:
        line_end = self.text.find("\n", error_pos)
        end = len(self.text) if line_end < 0 else line_end
        rest = _ONE_LINE_STRING.sub("", self.text[start:end])
        if '"' not in rest and rest.count("{") == rest.count("}") and rest.count("[") == rest.count("]"):
            self.skip = (start, end)

    def unknown_statement(self, word: str, span: Span) -> Diagnostic:
        block = self.enclosing_declaration()
        where = f" in {block.description}" if block else " at the top level"
        home = keywords().homes.get(word)
        if home is not None:
            return Diagnostic("error", f"'{word}' cannot appear{where}", span, hint=f"'{word}' belongs in {home}")
        hint = did_you_mean(word, self.keywords()) or f"expected {self.expected_text()}"
        return Diagnostic("error", f"unknown statement '{word}'{where}", span, hint=hint)

    def bad_number(self, word: str, span: Span) -> Diagnostic:
        if self.expected == {"DURATION"}:
            return Diagnostic("error", f"bad duration '{word}'", span, hint=_DURATION_HINT)
        durations = ", or a duration such as 10m" if "DURATION" in self.expected else ""
        return Diagnostic(
            "error",
            f"bad number '{word}'",
            span,
            hint=f"write an integer such as 3 or a decimal such as 1.5{durations}",
        )

    def left_open(self, reported: _Block) -> list[tuple[str, Span | None]]:
        """Where a '}' is probably missing, if not at `reported`: the first '{' closed by a '}'
        indented like an outer block."""
        opened: list[tuple[Token, int]] = []
        try:
            for token in self.lark.lex(self.text):
                if token.type == "LBRACE":
                    opened.append((token, self.indent(token)))
                elif token.type == "RBRACE" and opened:
                    opener, indent = opened.pop()
                    misplaced = self.indent(token) == token.column - 1 != indent
                    if misplaced and opener.start_pos != reported.bracket.start_pos:
                        return [
                            (
                                f"this '{{' may be the one left open: the '}}' at {token.line}:{token.column} "
                                "that closes it is indented like an outer block",
                                self.token_span(opener),
                            )
                        ]
        except UnexpectedInput:
            pass
        return []

    def indent(self, token: Token) -> int:
        """How far the line of `token` is indented."""
        line_start = self.text.rfind("\n", 0, token.start_pos) + 1
        line = self.text[line_start : token.start_pos + 1]
        return len(line) - len(line.lstrip())

    # --- context

    def at_statement_start(self) -> bool:
        """Whether a new statement or declaration may start here (a block's end is acceptable)."""
        keywords_only = "NAME" not in self.expected and bool(self.keywords())
        in_map = bool(self.blocks) and self.blocks[-1].description in ("a map", "a list")
        return keywords_only and not in_map and ("RBRACE" in self.expected or "$END" in self.expected)

    def enclosing_declaration(self) -> _Block | None:
        declarations = [b for b in self.blocks if b.description not in ("a map", "a list", "'changed(...)'")]
        return declarations[-1] if declarations else None

    def where(self) -> str:
        block = self.enclosing_declaration()
        return f" in {block.description}" if block else ""

    def keywords(self) -> list[str]:
        words = (self.literal(name) for name in self.expected)
        return sorted(w for w in words if w is not None and w[:1].isalpha())

    def literal(self, terminal: str) -> str | None:
        try:
            pattern = self.lark.get_terminal(terminal).pattern
        except KeyError:
            return None
        return pattern.value if isinstance(pattern, PatternStr) else None

    def expected_text(self) -> str:
        names: list[str] = []
        for terminal in sorted(self.expected):
            literal = self.literal(terminal)
            shown = f"'{literal}'" if literal is not None else _TERMINAL_NAMES.get(terminal, terminal)
            if shown not in names:
                names.append(shown)
        names.sort(key=lambda n: (not n.startswith("'"), n))
        if len(names) > 12:
            names = names[:12] + ["..."]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]

    # --- spans

    def point(self, line: int, column: int, width: int = 1) -> Span:
        return Span(self.file, line, column, line, column + width)

    def token_span(self, token: Token) -> Span:
        return Span(self.file, token.line, token.column, token.end_line, token.end_column)


def _accepted(exc: UnexpectedInput) -> set[str]:
    """The terminals that would let the parser go on where it stopped.

    lark tries each one on a copy of the parser, without callbacks. Its own
    `expected` lists are looser: the lexer's holds NAME, which every lexer state
    matches (see `_WordLexer` in the parser), and the parse table's holds
    every lookahead that LALR merged into the state.
    """
    interactive = getattr(exc, "interactive_parser", None)
    if interactive is not None:
        return set(interactive.accepts())
    return set(getattr(exc, "expected", None) or getattr(exc, "allowed", None) or ())


def _open_blocks(stack: list[Any]) -> list[_Block]:
    """The brackets still open on the parser's value stack, outermost first, with what they open."""
    open_at: list[int] = []
    for index, value in enumerate(stack):
        if isinstance(value, Token):
            if value.type in _CLOSING:
                open_at.append(index)
            elif value.type in _CLOSING.values() and open_at:
                open_at.pop()
    return [_describe(stack, i) for i in open_at]


def _describe(stack: list[Any], index: int) -> _Block:
    bracket: Token = stack[index]
    if bracket.type == "LSQB":
        return _Block(bracket, "a list", bracket)
    if bracket.type == "LPAR":
        return _Block(bracket, "'changed(...)'", bracket)
    # The words before the brace: a block keyword and its name (a role's is a `group_name`, already a Name).
    header = [
        v
        for v in stack[max(0, index - 4) : index]
        if isinstance(v, Name) or (isinstance(v, Token) and v.type not in ("ONCE", "OPTIONAL"))
    ]
    if (
        len(header) >= 2
        and isinstance(header[-2], Token)
        and header[-2].type in keywords().block_terminals
        and (isinstance(header[-1], Name) or header[-1].type == "NAME")
    ):
        name = header[-1].value if isinstance(header[-1], Name) else str(header[-1])
        return _Block(bracket, f"{header[-2]} '{name}'", header[-2])
    return _Block(bracket, "a map", bracket)


def _is_word(token: Token) -> bool:
    return bool(re.fullmatch(r"[A-Za-z_]\w*", str(token)))


def _shown(token: Token) -> str:
    text = str(token)
    if token.type in ("STRING", "TRIPLE_STRING"):
        text = text if len(text) <= 30 else text[:27] + "..."
        return f"string {text}"
    return f"'{text}'"
