"""Run a Plan: the graph walker, the journal and the transports.

Where each idea lives:
- `engine`: the scheduler, pure (what may start now, limits, failures, moving `once` work); `state`: run states.
- `runner`: one run's loop, between the engine, the journal and the transports; `journal`: the SQLite record
  that makes a run resumable; `progress`, `report`, `simulate`: what a run shows (`report_data` computes
  the report's numbers, `report_gantt` draws its timeline); `lifecycle`: what the next run would do and why
  (`orchc plan`), and plans pinned to the journal they were made against; `notify`: `when notified` gates.
- `transport`: the one interface every transport offers; `transports`: which one a host uses.
- `actions`: the native actions (run, copy, template) written once, above `connector`'s primitives;
  `local` and `ssh*` are the connectors; `connection`: a host's connection settings, read once.
- `ansible*`: the transport that runs Ansible content through ansible-runner.
- `agent`: the small program the SSH transport starts on a host.
"""
