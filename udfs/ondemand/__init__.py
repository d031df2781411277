"""The demo repo's on-demand feature functions, loaded from this folder by ``featurestream.ondemand.load_udfs``."""
