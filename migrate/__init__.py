"""Foreign deployment formats to `.orch` text."""
