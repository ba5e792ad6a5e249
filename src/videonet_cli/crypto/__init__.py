"""The crypto core for end-to-end encrypted transfers: pure functions, no I/O.

    wrap    a random 32-byte file key per transfer, wrapped for each recipient device's X25519
            public key with RFC 9180 HPKE (base mode: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
            AES-256-GCM), the transfer id and the device id bound in as HPKE ``info``
    stream  the file as fixed-size records (1 MiB of plaintext each) under AES-256-GCM with
            the STREAM construction (as in age and Tink): nonce = 11-byte record index + a
            final-record flag byte, the transfer id bound in as associated data

Everything comes from the `cryptography` package; nothing here is a home-made primitive. Not
wired into send/receive yet: the transfer path uses it in the next step.
"""
