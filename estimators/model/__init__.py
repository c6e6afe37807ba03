"""The model and its data: specs, priors, observable inputs, padded batches and the numpyro MMM."""
