"""orchc: deployment orchestration as a dependency graph.

Layout: `orchc.dsl` (text -> AST), `orchc.compiler` (AST -> Plan),
`orchc.plan` (the Plan IR), `orchc.backends` (run a Plan),
`orchc.migrate` (foreign formats -> .orch text).
"""

__version__ = "0.1.0"
