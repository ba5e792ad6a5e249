"""Room chat: messages stored in the database, paged over HTTP, sent and fanned out on sockets."""
