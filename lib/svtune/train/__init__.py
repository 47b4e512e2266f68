"""Stage 3, training: recipes (records of checked knobs), their losses and batch samplers, the fit
loop, centring and the teacher. Imports only `data` and `model`."""
