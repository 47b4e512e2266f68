"""Stage 1, the data: read and check the catalog, its topics and the held-out files, and mine
scored sentence pairs from them. Imports nothing else of svtune but `paths` and `progress`."""
