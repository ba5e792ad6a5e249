"""Room chat: messages stored in the database, paged over HTTP, fanned out by realtime/chat.py."""
