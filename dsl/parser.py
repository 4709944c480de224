"""Text to AST: `parse_text`, `parse_file` and `parse_files`.

The grammar is `grammar/orch.lark` (LALR, contextual lexer). The AST is built
while parsing (lark's internal transformer, no parse tree in between): the
callbacks in `_Builder` receive every token of a rule, keywords and braces
included, and take the spans of the nodes from them.

Problems are reported as `DiagnosticError`, never as lark exceptions: syntax
errors are explained by `orchc.dsl.syntax_errors`, and problems the grammar
cannot express (a bad escape, `timeout` given twice) are collected while
building and reported together.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lark import Lark, Token, UnexpectedInput
from lark.lexer import ContextualLexer
from lark.parsers.lalr_analysis import Shift

from orchc.dsl import ast
from orchc.dsl.diagnostics import Diagnostic, DiagnosticError, Diagnostics
from orchc.dsl.files import read_text
from orchc.dsl.keywords import keyword_terminals
from orchc.grammar import grammar_text


def parse_text(text: str, file: str, comments: bool = True) -> ast.Module:
    """Parse one `.orch` source; `file` names it in spans and messages.

    Without `comments` the module has none: a fifth faster, for readers that need none.
    """
    with _LOCK:
        return _parser(comments).parse(text, file)


def parse_file(path: Path, comments: bool = True) -> ast.Module:
    """Parse one `.orch` file; spans name it as `path` was given."""
    return parse_text(read_text(path, hint="give a readable .orch file"), str(path), comments)


def parse_files(paths: Iterable[Path]) -> tuple[list[ast.Module], list[Diagnostic]]:
    """Parse every file; return the modules that parsed and the diagnostics of all that did not."""
    modules: list[ast.Module] = []
    diagnostics: list[Diagnostic] = []
    for path in paths:
        try:
            modules.append(parse_file(path))
        except DiagnosticError as exc:
            diagnostics.extend(exc.diagnostics)
    return modules, diagnostics


# --- the lark parser, built once per process -------------------------------------------

_LOCK = threading.Lock()  # the builder holds the state of one parse at a time
_MAX_SYNTAX_ERRORS = 20
_PARSERS: dict[bool, _Parser] = {}  # with comments or without


class _WordLexer(ContextualLexer):
    """lark's contextual lexer, made to read whole words and keywords only where they fit.

    1. NAME is matched in every parser state. Without it, in a state that accepts
       `run` but no name, the word `runner` would lex as `run` followed by `ner`.
       With it, a word becomes a keyword only where the parser accepts that keyword.
    2. In LALR, a state that is about to reduce accepts every lookahead merged into
       it: after `a: str = ""` in a type, both the next field's name and `mode`
       (from `copy ... mode`) look acceptable, so the field `mode` would lex as the
       keyword. In such states a keyword that the parser would not actually shift,
       where it would shift a name, is turned back into a name.
    """

    def __init__(self, conf: Any, states: dict[int, Collection[str]], always_accept: Collection[str] = ()) -> None:
        super().__init__(conf, states, always_accept=(*always_accept, "NAME"))
        self.keywords = set(keyword_terminals(conf.terminals))
        self.word_or_keyword_states = {
            state for state, accepts in states.items() if "NAME" in accepts and self.keywords.intersection(accepts)
        }
        self.scanners: dict[int, _StateScanner] = {}  # built on first use, as lark builds its own

    def lex(self, lexer_state: Any, parser_state: Any) -> Iterator[Token]:
        """lark's contextual lexing in one loop, faster than lark's `next_token` per token.

        Same patterns, callbacks and tokens as lark's lexer of each parser state.
        Where no terminal of the state matches, lark's own lexer takes over and raises its error.
        """
        source = getattr(lexer_state.text, "text", lexer_state.text)  # lark 1.3 wraps the text in a TextSlice
        counter = lexer_state.line_ctr
        pos, line, line_start = counter.char_pos, counter.line, counter.line_start_pos
        stack = parser_state.state_stack
        while pos < len(source):
            state = stack[-1]
            scanner = self.scanners.get(state) or self._scanner(state)
            match = scanner.match_first(source, pos) or scanner.match_others(source, pos)
            if match is None:  # a syntax error
                _move(counter, pos, line, line_start)
                yield from super().lex(lexer_state, parser_state)  # raises lark's own exception
                return
            type_, value = match.lastgroup, match.group()
            start, start_line, start_column = pos, line, pos - line_start + 1
            pos = match.end()
            if type_ in scanner.newline_types and (newlines := value.count("\n")):
                line += newlines
                line_start = start + value.rindex("\n") + 1
            if type_ in scanner.skipped:
                continue
            # Token() itself only adds a check for a deprecated argument: 40% of the cost of a token
            token = Token._future_new(type_, value, start, start_line, start_column, line, pos - line_start + 1, pos)
            _move(counter, pos, line, line_start)
            if type_ in scanner.callbacks:
                token = scanner.callbacks[type_](token)
                if type_ in scanner.ignore_types:
                    continue
            if (
                token.type in self.keywords
                and state in self.word_or_keyword_states
                and not _shifts(parser_state, token.type)
                and _shifts(parser_state, "NAME")
            ):
                token = Token.new_borrow_pos("NAME", token, token)
            lexer_state.last_token = token
            yield token
        _move(counter, pos, line, line_start)

    def _scanner(self, state: int) -> _StateScanner:
        """The scanner of a parser state, made from lark's lexer of that state."""
        lexer = self.lexers[state]
        patterns = lexer.scanner._mres
        scanner = _StateScanner(
            patterns[0].match,
            tuple(patterns[1:]),
            lexer.callback,
            lexer.ignore_types,
            lexer.ignore_types - set(lexer.callback),
            lexer.newline_types,
        )
        self.scanners[state] = scanner
        return scanner


def _move(counter: Any, pos: int, line: int, line_start: int) -> None:
    """Set lark's line counter of the text to `pos`, for lark's code that reads it."""
    counter.char_pos, counter.line, counter.column, counter.line_start_pos = pos, line, pos - line_start + 1, line_start


@dataclass(frozen=True)
class _StateScanner:
    """What lexing in one parser state needs, taken from lark's lexer for that state."""

    match_first: Callable[[str, int], re.Match[str] | None]  # the first alternation of the state's terminals
    others: tuple[re.Pattern[str], ...]  # lark splits alternations of more than 100 terminals
    callbacks: dict[str, Callable[[Token], Token]]  # keywords out of NAME, the COMMENT callback
    ignore_types: frozenset[str]
    skipped: frozenset[str]  # ignored terminals without a callback: no token is made
    newline_types: frozenset[str]  # terminals that may hold a newline

    def match_others(self, source: str, pos: int) -> re.Match[str] | None:
        for pattern in self.others:
            if match := pattern.match(source, pos):
                return match
        return None


def _shifts(parser_state: Any, terminal: str) -> bool:
    """Whether the parser, after the reductions `terminal` triggers, would shift it."""
    states = parser_state.parse_conf.states
    stack = list(parser_state.state_stack)
    while (action := states[stack[-1]].get(terminal)) is not None:
        kind, rule = action
        if kind is Shift:
            return True
        if rule.expansion:
            del stack[-len(rule.expansion) :]
        stack.append(states[stack[-1]][rule.origin.name][1])
    return False


class _Parser:
    """The lark LALR parser with `_Builder` as its callbacks; grammar analysis is cached on disk by lark."""

    def __init__(self, comments: bool) -> None:
        self.builder = _Builder()
        self.lark = Lark(
            grammar_text(),
            parser="lalr",
            lexer="contextual",
            # Strict mode (no conflicts, no colliding terminals) needs interegular, a test-only dependency:
            # tests/test_parser.py builds the grammar strictly.
            strict=False,
            maybe_placeholders=False,
            keep_all_tokens=True,
            transformer=self.builder,
            _plugins={"ContextualLexer": _WordLexer},  # lark's hook to replace its lexer class
            lexer_callbacks={"COMMENT": self.builder.comment} if comments else {},
            cache=True,
        )

    def parse(self, text: str, file: str) -> ast.Module:
        """Parse; on a syntax error that leaves the rest readable, blank it out and go on."""
        syntax_errors: list[Diagnostic] = []
        while True:
            self.builder.start_file(file)
            try:
                module: ast.Module = self.lark.parse(text)
                break
            except UnexpectedInput as exc:
                from orchc.dsl.syntax_errors import syntax_error  # 5 ms to import, needed only here

                problem = syntax_error(exc, text, file, self.lark)
                syntax_errors.append(problem.diagnostic)
                if problem.skip is None or len(syntax_errors) == _MAX_SYNTAX_ERRORS:
                    break
                start, end = problem.skip
                text = text[:start] + " " * (end - start) + text[end:]
        if syntax_errors:  # with what the builder found before the last stop, in file order
            found = self.builder.diagnostics.items + syntax_errors
            raise DiagnosticError(sorted(found, key=_position))
        self.builder.diagnostics.raise_if_errors()
        module.comments = self.builder.comments
        return module


def _position(diagnostic: Diagnostic) -> tuple[int, int]:
    span = diagnostic.span
    return (span.line, span.column) if span else (0, 0)


def grammar() -> Lark:
    """The compiled grammar: its terminals and rules."""
    return _parser(False).lark


def _parser(comments: bool) -> _Parser:
    parser = _PARSERS.get(comments)
    if parser is None:
        parser = _PARSERS[comments] = _Parser(comments)
    return parser


# --- building the AST -------------------------------------------------------------------------

_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|.)")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f"}
_SINGLE_STATEMENTS = ("concurrency", "retries", "timeout", "become")


@dataclass
class _Statement:
    """A statement that only sets a field of the enclosing declaration."""

    keyword: str
    value: Any
    span: ast.Span


class _Builder:
    """Rule callbacks of the grammar: each gets the rule's tokens and built nodes."""

    def __init__(self) -> None:
        self.start_file("<none>")

    def start_file(self, file: str) -> None:
        self.file = file
        self.comments: list[ast.Comment] = []
        self.diagnostics = Diagnostics()

    def comment(self, token: Token) -> Token:
        self.comments.append(ast.Comment(token.rstrip(), token.line, token.column))
        return token

    def span(self, first: Any, last: Any | None = None) -> ast.Span:
        """From the start of `first` to the end of `last` (each a token, a node or a list of them)."""
        if last is None:
            if type(first) is Token:  # the span of one token: half of all spans
                return ast.Span(self.file, first.line, first.column, first.end_line, first.end_column)
            last = first
        while isinstance(first, list):
            first = first[0]
        while isinstance(last, list):
            last = last[-1]
        start = first if isinstance(first, Token) else first.span
        end = last if isinstance(last, Token) else last.span
        return ast.Span(self.file, start.line, start.column, end.end_line, end.end_column)

    # --- values

    def string(self, c: list[Token]) -> ast.Str:
        token = c[0]
        if token.type == "TRIPLE_STRING":
            return ast.Str(token[3:-3], self.span(token), triple=True)
        body = token[1:-1]
        if "\\" in body:
            body = _ESCAPE.sub(lambda m: self._unescape(m, token), body)
        return ast.Str(body, self.span(token))

    def _unescape(self, match: re.Match[str], token: Token) -> str:
        code = match.group(1)
        if code in _ESCAPES:
            return _ESCAPES[code]
        if code[0] == "u" and len(code) == 5:
            return chr(int(code[1:], 16))
        column = token.column + 1 + match.start()
        self.diagnostics.error(
            f"unknown escape '\\{code}' in a string",
            ast.Span(self.file, token.line, column, token.line, column + 2),
            hint="write '\\\\' for a backslash; known escapes are \\n \\t \\r \\\" \\\\ \\uXXXX, "
            'or use """...""" where backslashes are kept as written',
        )
        return match.group(0)

    def integer(self, c: list[Token]) -> ast.Int:
        return ast.Int(int(c[0]), self.span(c[0]))

    def decimal(self, c: list[Token]) -> ast.Float:
        return ast.Float(float(c[0]), self.span(c[0]))

    def duration(self, c: list[Token]) -> ast.Duration:
        text = str(c[0])
        seconds = ast.duration_seconds(text)
        assert seconds is not None  # the grammar took it as a duration
        return ast.Duration(seconds, text, self.span(c[0]))

    def true(self, c: list[Token]) -> ast.Bool:
        return ast.Bool(True, self.span(c[0]))

    def false(self, c: list[Token]) -> ast.Bool:
        return ast.Bool(False, self.span(c[0]))

    def null(self, c: list[Token]) -> ast.Null:
        return ast.Null(self.span(c[0]))

    def list_value(self, c: list[Any]) -> ast.ListValue:
        return ast.ListValue([v for v in c[1:-1] if not isinstance(v, Token)], self.span(c[0], c[-1]))

    def map_value(self, c: list[Any]) -> ast.MapValue:
        return ast.MapValue([e for e in c[1:-1] if isinstance(e, ast.MapEntry)], self.span(c[0], c[-1]))

    def map_entry(self, c: list[Any]) -> ast.MapEntry:
        key = c[0]
        name = self.string([key]).value if key.type == "STRING" else str(key)
        return ast.MapEntry(name, c[2], self.span(key, c[2]))

    def name(self, c: list[Token]) -> ast.Name:
        return ast.Name(str(c[0]), self.span(c[0]))

    def group_name(self, c: list[Any]) -> ast.Name:
        if isinstance(c[0], ast.Str):
            return ast.Name(c[0].value, c[0].span)
        return ast.Name(str(c[0]), self.span(c[0]))

    def name_list(self, c: list[Any]) -> list[ast.Name]:
        return [n for n in c if isinstance(n, ast.Name)]

    def dotted_name(self, c: list[Token]) -> Token:
        first, last = c[0], c[-1]
        return Token(
            "DOTTED_NAME",
            "".join(c),
            first.start_pos,
            first.line,
            first.column,
            last.end_line,
            last.end_column,
            last.end_pos,
        )

    # --- declarations

    def start(self, c: list[Any]) -> ast.Module:
        imports = [i for i in c if isinstance(i, ast.Import)]
        items = [i for i in c if not isinstance(i, ast.Import)]
        return ast.Module(self.file, imports, items)

    def import_decl(self, c: list[Any]) -> ast.Import:
        return ast.Import(c[1], self.span(c[0], c[1]))

    def type_ref(self, c: list[Token]) -> ast.TypeRef:
        return ast.TypeRef(str(c[0]), self.span(c[0]))

    def field_decl(self, c: list[Any]) -> ast.FieldDecl:
        parts = [p for p in c if not (isinstance(p, Token) and p.type == "COMMA")]
        default = parts[4] if len(parts) > 4 else None
        return ast.FieldDecl(str(c[0]), parts[2], default, self.span(c[0], parts[-1]), self.span(c[0]))

    def type_decl(self, c: list[Any]) -> ast.TypeDecl:
        return ast.TypeDecl(str(c[1]), c[3:-1], self.span(c[0], c[-1]), self.span(c[1]))

    def var_decl(self, c: list[Any]) -> ast.VarDecl:
        default = c[5] if len(c) > 5 else None
        return ast.VarDecl(str(c[1]), c[3], default, self.span(c[0], c[-1]), self.span(c[1]))

    def services(self, c: list[Any]) -> _Statement:
        return _Statement("services", c[1], self.span(c[0], c[1]))

    def tolerate(self, c: list[Any]) -> ast.Tolerate:
        return ast.Tolerate(c[1], self.span(c[0], c[1]))

    def role_decl(self, c: list[Any]) -> ast.RoleDecl:
        services: list[ast.Name] = []
        tolerate: ast.Tolerate | None = None
        optional = isinstance(c[2], Token) and c[2].type == "OPTIONAL"
        for statement in c[4 if optional else 3 : -1]:
            if isinstance(statement, ast.Tolerate):
                if tolerate is not None:
                    self._given_twice("tolerate", statement.span, tolerate.span)
                tolerate = statement
            else:
                services.extend(statement.value)
        return ast.RoleDecl(c[1].value, services, tolerate, self.span(c[0], c[-1]), c[1].span, optional)

    def service_decl(self, c: list[Any]) -> ast.ServiceDecl:
        return ast.ServiceDecl(str(c[1]), c[3:-1], self.span(c[0], c[-1]), self.span(c[1]))

    def task_decl(self, c: list[Any]) -> ast.TaskDecl:
        once = c[2].type == "ONCE"
        statements = c[4 if once else 3 : -1]
        task = ast.TaskDecl(
            name=str(c[1]),
            once=once,
            after=[],
            before=[],
            requires=[],
            provides=[],
            actions=[],
            concurrency=None,
            retries=None,
            timeout=None,
            when=None,
            become=False,
            span=self.span(c[0], c[-1]),
            name_span=self.span(c[1]),
        )
        singles: dict[str, ast.Span] = {}
        for statement in statements:
            if isinstance(statement, _Statement):
                if statement.keyword in _SINGLE_STATEMENTS:
                    self._single(statement, singles)
                if statement.keyword == "after":
                    task.after.extend(statement.value)
                elif statement.keyword == "before":
                    task.before.extend(statement.value)
                elif statement.keyword == "concurrency":
                    task.concurrency = statement.value
                elif statement.keyword == "timeout":
                    task.timeout = statement.value
                elif statement.keyword == "become":
                    task.become, task.become_span = True, statement.span
            elif isinstance(statement, ast.Retries):
                self._single(_Statement("retries", statement, statement.span), singles)
                task.retries = statement
            elif isinstance(statement, ast.When):
                task.when = self._merge_when(task.when, statement)
            elif isinstance(statement, ast.Requirement):
                task.requires.append(statement)
            elif isinstance(statement, ast.Provision):
                task.provides.append(statement)
            else:
                task.actions.append(statement)
        return task

    def strict_decl(self, c: list[Token]) -> ast.StrictDecl:
        return ast.StrictDecl(self.span(c[0]))

    def anchor_decl(self, c: list[Any]) -> ast.AnchorDecl:
        anchor = ast.AnchorDecl(str(c[1]), [], [], [], self.span(c[0], c[-1]), self.span(c[1]))
        for statement in c[3:-1]:
            if isinstance(statement, ast.Requirement):
                anchor.requires.append(statement)
            elif isinstance(statement, ast.Provision):
                anchor.provides.append(statement)
            else:
                anchor.after.extend(statement.value)
        return anchor

    def _single(self, statement: _Statement, seen: dict[str, ast.Span]) -> None:
        if statement.keyword in seen:
            self._given_twice(statement.keyword, statement.span, seen[statement.keyword])
        seen[statement.keyword] = statement.span

    def _given_twice(self, keyword: str, span: ast.Span, first: ast.Span) -> None:
        self.diagnostics.error(
            f"'{keyword}' is given twice",
            span,
            hint=f"keep one '{keyword}' statement",
            notes=[("first given here", first)],
        )

    def _merge_when(self, previous: ast.When | None, when: ast.When) -> ast.When:
        if previous is None:
            return when
        for kind in set(when.kinds()) & set(previous.kinds()):
            self._given_twice(kind, when.span, previous.span)
        return previous.merged(when)

    # --- task statements

    def after(self, c: list[Any]) -> _Statement:
        return _Statement("after", c[1], self.span(c[0], c[1]))

    def before(self, c: list[Any]) -> _Statement:
        return _Statement("before", c[1], self.span(c[0], c[1]))

    def requires(self, c: list[Any]) -> ast.Requirement:
        type_name = c[3] if len(c) > 2 and isinstance(c[2], Token) and c[2].type == "COLON" else None
        optional = isinstance(c[-1], Token) and c[-1].type == "OPTIONAL"
        last = c[-2] if optional else c[-1]
        scope = last if isinstance(last, ast.Scope) else ast.Scope("all", None, None)
        return ast.Requirement(str(c[1]), type_name, scope, self.span(c[0], c[-1]), self.span(c[1]), optional)

    def scope_same_host(self, c: list[Token]) -> ast.Scope:
        return ast.Scope("same_host", None, self.span(c[0], c[-1]))

    def scope_role(self, c: list[Any]) -> ast.Scope:
        return ast.Scope("role", c[2], self.span(c[0], c[-1]))

    def scope_any(self, c: list[Token]) -> ast.Scope:
        return ast.Scope("any", None, self.span(c[0], c[-1]))

    def provides(self, c: list[Any]) -> ast.Provision:
        type_name = c[3] if len(c) > 2 and isinstance(c[2], Token) and c[2].type == "COLON" else None
        fields = c[-1].entries if isinstance(c[-1], ast.MapValue) else []
        assigns = [ast.FieldAssign(e.key, e.value, e.span) for e in fields]
        return ast.Provision(str(c[1]), type_name, assigns, self.span(c[0], c[-1]), self.span(c[1]))

    def concurrency(self, c: list[Any]) -> _Statement:
        return _Statement("concurrency", c[1], self.span(c[0], c[1]))

    def retries(self, c: list[Any]) -> ast.Retries:
        return ast.Retries(c[1], c[3] if len(c) > 2 else None, self.span(c[0], c[-1]))

    def timeout(self, c: list[Any]) -> _Statement:
        return _Statement("timeout", c[1], self.span(c[0], c[1]))

    def when_expr(self, c: list[Any]) -> ast.When:
        return ast.When(c[1], [], self.span(c[0], c[1]))

    def when_changed(self, c: list[Any]) -> ast.When:
        return ast.When(None, c[3], self.span(c[0], c[-1]))

    def when_ansible(self, c: list[Any]) -> ast.When:
        return ast.When(None, [], self.span(c[0], c[2]), ansible=c[2])

    def when_notified(self, c: list[Any]) -> ast.When:
        return ast.When(None, [], self.span(c[0], c[-1]), notified=c[3])

    def notifier_list(self, c: list[Any]) -> list[ast.Notifier]:
        return [n for n in c if isinstance(n, ast.Notifier)]

    def notifier(self, c: list[Any]) -> ast.Notifier:
        return ast.Notifier(ast.Name(str(c[0]), self.span(c[0])), c[1] if len(c) > 1 else None)

    def become(self, c: list[Token]) -> _Statement:
        return _Statement("become", True, self.span(c[0]))

    # --- actions

    def run(self, c: list[Any]) -> ast.Run:
        return ast.Run(c[1], self.span(c[0], c[1]))

    def copy(self, c: list[Any]) -> ast.Copy:
        return ast.Copy(c[1], c[3], *self._file_options(c[4:]), self.span(c[0], c[-1]))

    def template(self, c: list[Any]) -> ast.Template:
        return ast.Template(c[1], c[3], *self._file_options(c[4:]), self.span(c[0], c[-1]))

    def file_option(self, c: list[Any]) -> _Statement:
        return _Statement(str(c[0]), c[1], self.span(c[0], c[1]))

    def _file_options(self, options: list[_Statement]) -> tuple[ast.Str | None, ast.Str | None]:
        given: dict[str, _Statement] = {}
        for option in options:
            if option.keyword in given:
                self._given_twice(option.keyword, option.span, given[option.keyword].span)
            given[option.keyword] = option
        mode, owner = given.get("mode"), given.get("owner")
        return (mode.value if mode else None), (owner.value if owner else None)

    def playbook(self, c: list[Any]) -> ast.Playbook:
        return ast.Playbook(c[1], c[3] if len(c) > 2 else None, self.span(c[0], c[-1]))

    def ansible(self, c: list[Any]) -> ast.AnsibleModule:
        return ast.AnsibleModule(str(c[1]), c[2], self.span(c[0], c[-1]), self.span(c[1]))

    def ansible_role(self, c: list[Any]) -> ast.AnsibleRole:
        name = c[1].value if isinstance(c[1], ast.Str) else str(c[1])
        return ast.AnsibleRole(name, c[3] if len(c) > 2 else None, self.span(c[0], c[-1]))
