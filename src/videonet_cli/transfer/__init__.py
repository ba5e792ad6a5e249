"""File transfer: send, receive and verify, as async cores that report events and return results."""
