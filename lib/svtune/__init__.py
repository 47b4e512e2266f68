"""svtune: fine-tune sentence-transformer models for StatVar (statistical variable) search.

The subpackages are the pipeline's stages, in order; a stage imports only those before it:
data -> model -> train -> eval -> ship -> run -> bench. `paths` (where everything lives) and
`progress` (progress lines) are used by all.
"""

__version__ = "0.1.0"
