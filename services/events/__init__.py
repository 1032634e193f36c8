"""Events every service emits: the transactional outbox, the relay that delivers it, and audit records.

A service writes an outbox row in the same transaction as the change it announces (so an event is never lost
and never sent for a change that rolled back); `OutboxRelay`, running in the same process, delivers it later.
Any service may import this package; it imports no service (it calls them over gRPC).
"""
