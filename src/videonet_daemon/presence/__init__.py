"""Presence: who is online in each room (in memory, or in Redis for several daemons)."""
