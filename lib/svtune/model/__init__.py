"""Stage 2, the encoder: fetch and verify a base model, load it on the right device and precision,
and encode texts (cached per model fingerprint) and search them. Imports only `data` below it."""
