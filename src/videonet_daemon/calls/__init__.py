"""Call signaling: who is in each room's call, relaying offer/answer/ICE/hang-up, ICE servers."""
