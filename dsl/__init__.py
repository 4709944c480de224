"""Text to syntax tree: the lark parser, the AST, diagnostics and the formatter."""
