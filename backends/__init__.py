"""Run a Plan: the graph walker, the journal and the transports."""
