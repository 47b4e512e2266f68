"""Stage 5, shipping: the model card, publishing a run to a folder, bucket or the Hub, and the Data
Commons NL-server bundle."""
