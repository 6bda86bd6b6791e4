"""The check-in flow: the state machine (``machine``), best-frame smile capture (``smile``),
the per-frame pipeline that feeds the machine (``pipeline``), and kiosk sessions (``sessions``)."""
