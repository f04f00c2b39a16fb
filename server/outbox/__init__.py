"""The server's outbox: outbound HTTP messages recorded in the transaction that decided them,
sent only after it commits, and retried with backoff until delivered or given up."""
