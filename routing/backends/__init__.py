"""Implementations of ``routing.state.RoutingState``; only these may do I/O."""
