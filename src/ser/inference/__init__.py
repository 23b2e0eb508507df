"""Using a trained model: the bundle, its model card, prediction on new recordings, and the HTTP server."""
